// Counts the distinct memory pages a program touches between two system calls, from a valgrind trace. Not a test:
// benchmarks/page_touch/measure runs it. Why: where the kernel isolates its page tables without PCID (this project's
// VMs), every system call empties the TLB, so each page touched after one costs a page walk, however few instructions
// touch it. A SQLite file database makes two system calls a select (WAL's read lock), so keel's code and data
// pages between them cost time that callgrind's instruction counts do not show.
//
// Input, on stdin: `valgrind --tool=lackey --trace-mem=yes --trace-syscalls=yes`'s log, whose lines are memory
// accesses (" L addr,size", "I  addr,size", ...) and system calls ("SYSCALL[pid,tid](nr) ..."), in program order.
// Output: of the last `window` stretches between two system calls (default 2,000: the steady loop at the end of a
// benchmark, and its teardown), grouped by the call that ended them, the mean instructions, code pages and data
// pages of a stretch, and the pages of each mapped object (the traced process's /proc/<pid>/maps, read while it
// runs). lackey's access lines name no thread, so the stretches are right for a program with one busy thread
// (keel-orm-sqlite-bench's sides run on its main thread; its workers wait).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

// One stretch between two system calls: its instruction count, the pages it touched and the call that ended it.
struct Stretch {
  long instructions = 0;
  std::set<unsigned long> code, data;
  std::string ended_by;
};

// The traced process's mappings, by first page: [first, end) and the mapped file's name.
struct Mapping {
  unsigned long end;
  std::string name;
};
using Mappings = std::map<unsigned long, Mapping>;

Mappings read_maps(long pid) {
  Mappings maps;
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, path;
    fields >> range >> perms >> offset >> device >> inode >> path;
    const auto dash = range.find('-');
    const unsigned long first = std::stoul(range.substr(0, dash), nullptr, 16) >> 12;
    const unsigned long end = std::stoul(range.substr(dash + 1), nullptr, 16) >> 12;
    maps[first] = {end, path.empty() ? "[anonymous]" : path.substr(path.rfind('/') + 1)};
  }
  return maps;
}

std::string object_of(const Mappings& maps, unsigned long page) {
  auto it = maps.upper_bound(page);
  if (it == maps.begin()) return "?";
  --it;
  return page < it->second.end ? it->second.name : "?";
}

// Each system call's stretches (those it ended) among `kept`, for the calls that end at least 5% of them: a
// program's steady loop shows as the calls it makes there, and its start and end as the rest.
void report(const std::deque<Stretch>& kept, const Mappings& maps) {
  std::map<std::string, std::vector<const Stretch*>> by_call;
  for (const Stretch& s : kept) by_call[s.ended_by].push_back(&s);
  std::printf("the last %zu stretches between system calls, by the call that ended them:\n", kept.size());
  for (const auto& [call, stretches] : by_call) {
    if (stretches.size() * 20 < kept.size()) continue;
    double instructions = 0, code = 0, data = 0;
    std::map<std::string, double> code_by_object, data_by_object;
    auto tally = [&](const std::set<unsigned long>& pages, double& total, std::map<std::string, double>& by_object) {
      total += pages.size();
      for (unsigned long page : pages) by_object[object_of(maps, page)] += 1;
    };
    for (const Stretch* s : stretches) {
      instructions += s->instructions;
      tally(s->code, code, code_by_object);
      tally(s->data, data, data_by_object);
    }
    const double n = stretches.size();
    std::printf("%s: %zu stretches, %.0f instructions, %.1f code pages, %.1f data pages each\n", call.c_str(),
                stretches.size(), instructions / n, code / n, data / n);
    auto by_object = [&](const char* what, const std::map<std::string, double>& pages) {
      std::vector<std::pair<double, std::string>> sorted;
      for (const auto& [object, count] : pages) sorted.emplace_back(count / n, object);
      std::ranges::sort(sorted, std::greater{});
      std::printf("  %s pages:", what);
      for (const auto& [count, object] : sorted)
        if (count >= 0.05) std::printf(" %s %.1f", object.c_str(), count);
      std::printf("\n");
    };
    by_object("code", code_by_object);
    by_object("data", data_by_object);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t window = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2000;
  std::deque<Stretch> kept;
  Stretch current;
  Mappings maps;
  long calls_seen = 0;
  static char line[65536];  // longer than any line valgrind prints
  while (std::fgets(line, sizeof line, stdin)) {
    if (std::strncmp(line, "SYSCALL[", 8) == 0) {
      // A call that may block is two lines, "sys_name ( ... ) --> [async] ..." and then "... [async] --> result":
      // the second ends nothing.
      if (std::strstr(line, ") ... [async]")) continue;
      // The maps after each mmap (which valgrind prints once it is done) and now and then, so that the last
      // reading before the process exits has every library.
      if (calls_seen++ % 1000 == 0 || std::strstr(line, " sys_mmap ")) {
        Mappings now = read_maps(std::strtol(line + 8, nullptr, 10));
        if (!now.empty()) maps = std::move(now);
      }
      // "SYSCALL[pid,tid](nr) name ( arguments": the call's name ends the stretch.
      const char* name = std::strstr(line, ") ");
      current.ended_by = name ? std::string(name + 2, std::strcspn(name + 2, " (\n")) : "?";
      kept.push_back(std::move(current));
      current = {};
      if (kept.size() > window) kept.pop_front();
      continue;
    }
    const char* s = line;
    while (*s == ' ') ++s;
    const char kind = *s;
    if (kind != 'I' && kind != 'L' && kind != 'S' && kind != 'M') continue;
    char* after = nullptr;
    const unsigned long address = std::strtoul(s + 1, &after, 16);
    const long size = *after == ',' ? std::strtol(after + 1, nullptr, 10) : 1;
    std::set<unsigned long>& pages = kind == 'I' ? current.code : current.data;
    for (unsigned long page = address >> 12; page <= (address + std::max(size, 1L) - 1) >> 12; ++page)
      pages.insert(page);
    if (kind == 'I') ++current.instructions;
  }
  report(kept, maps);
}
