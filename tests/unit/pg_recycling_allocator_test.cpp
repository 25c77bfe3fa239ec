// The allocator behind each query's reply: freed blocks come back to the next allocation on the same thread, up to
// a limit, and the rest go back to the heap. The allocator is not exported: this test is a unit of keel.postgres.
module;
#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <type_traits>
#include <vector>
module keel.postgres;

// The details tests/compile_fail/detail_pg_* name from outside exist in here.
static_assert(std::is_class_v<keel::pg::Pipeline>);
static_assert(std::is_default_constructible_v<keel::pg::EncodedParameters>);

namespace {
struct Block {
  char bytes[200];
};
}  // namespace

TEST_CASE("a freed block serves the next allocation on the same thread", "[pg][allocator]") {
  keel::pg::RecyclingAllocator<Block> allocator;
  Block* first = allocator.allocate(1);
  allocator.deallocate(first, 1);
  Block* second = allocator.allocate(1);
  CHECK(second == first);
  allocator.deallocate(second, 1);

  // Arrays are never kept: they go back to the heap as they came.
  Block* array = allocator.allocate(3);
  allocator.deallocate(array, 3);
  CHECK(allocator.allocate(1) == first);
  allocator.deallocate(first, 1);
}

TEST_CASE("at most `kept` blocks are kept; shared_ptr's blocks recycle too", "[pg][allocator]") {
  using Allocator = keel::pg::RecyclingAllocator<Block>;
  Allocator allocator;
  // Drain what the thread keeps, then free more than it may keep.
  std::vector<Block*> blocks;
  for (std::size_t i = 0; i < Allocator::kept + 10; ++i) blocks.push_back(allocator.allocate(1));
  for (Block* b : blocks) allocator.deallocate(b, 1);
  // The first `kept` came back to the list (last in, first out); the 10 after them went to the heap.
  std::set<Block*> kept_blocks(blocks.begin(), blocks.begin() + Allocator::kept);
  std::vector<Block*> again;
  for (std::size_t i = 0; i < Allocator::kept; ++i) again.push_back(allocator.allocate(1));
  CHECK(std::set<Block*>(again.begin(), again.end()) == kept_blocks);
  for (Block* b : again) allocator.deallocate(b, 1);

  // allocate_shared rebinds the allocator to its control block, which recycles the same way.
  auto a = std::allocate_shared<Block>(allocator);
  const Block* where = a.get();
  a.reset();
  auto b = std::allocate_shared<Block>(allocator);
  CHECK(b.get() == where);
}
