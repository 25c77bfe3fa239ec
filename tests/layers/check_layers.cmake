# The layers' rule, checked on the sources: each layer imports only the keel modules below it.
#   cmake -DKEEL_SOURCE_DIR=<tree> -P check_layers.cmake
# Fails naming each file that imports or includes what its layer may not.
if(NOT KEEL_SOURCE_DIR)
  message(FATAL_ERROR "check_layers: pass -DKEEL_SOURCE_DIR=<keel's source tree>")
endif()

set(violations "")

# keel_allow_imports(<layer> <allowed modules, ;-list> <files...>): every `import keel...;` (exported or not,
# indented or not; the umbrella `import keel;` too) must name an allowed module.
function(keel_allow_imports layer allowed)
  foreach(file IN LISTS ARGN)
    file(STRINGS "${file}" imports REGEX "^[ \t]*(export[ \t]+)?import[ \t]+keel[a-z0-9_.]*[ \t]*;")
    foreach(line IN LISTS imports)
      string(REGEX REPLACE "^[ \t]*(export[ \t]+)?import[ \t]+(keel[a-z0-9_.]*).*$" "\\2" module "${line}")
      if(NOT module IN_LIST allowed)
        file(RELATIVE_PATH name "${KEEL_SOURCE_DIR}" "${file}")
        list(APPEND violations "${name}: ${layer} imports ${module} (it may import: ${allowed})")
      endif()
    endforeach()
  endforeach()
  set(violations "${violations}" PARENT_SCOPE)
endfunction()

# keel_forbid(<what it is> <regex that must not match a line outside // comments> <files...>)
function(keel_forbid what pattern)
  foreach(file IN LISTS ARGN)
    file(STRINGS "${file}" hits REGEX "${pattern}")
    list(FILTER hits EXCLUDE REGEX "^[ \t]*//")
    if(hits)
      file(RELATIVE_PATH name "${KEEL_SOURCE_DIR}" "${file}")
      list(JOIN hits " | " shown)
      list(APPEND violations "${name}: ${what}: ${shown}")
    endif()
  endforeach()
  set(violations "${violations}" PARENT_SCOPE)
endfunction()

# keel_purview_includes_concepts_only(<units...>): after `export module`, a unit includes only its concept
# files; a header included there would belong to the module instead of the global module.
function(keel_purview_includes_concepts_only)
  foreach(file IN LISTS ARGN)
    file(READ "${file}" text)
    string(FIND "${text}" "\nexport module " at)
    if(at EQUAL -1)
      continue()
    endif()
    string(SUBSTRING "${text}" ${at} -1 purview)
    string(REGEX MATCHALL "\n[ \t]*#[ \t]*include[ \t]*[<\"][^>\"\n]*[>\"]" includes "${purview}")
    foreach(include IN LISTS includes)
      if(NOT include MATCHES "\\.inc\"$")
        file(RELATIVE_PATH name "${KEEL_SOURCE_DIR}" "${file}")
        string(STRIP "${include}" shown)
        list(APPEND violations "${name}: includes a header in the module's purview (the global module fragment takes it): ${shown}")
      endif()
    endforeach()
  endforeach()
  set(violations "${violations}" PARENT_SCOPE)
endfunction()

set(root "${KEEL_SOURCE_DIR}")
# Each library is one module unit (<library>.cppm) that includes its concept files (*.inc): the unit holds the
# library's imports and #includes; a concept file holds neither.
file(GLOB core "${root}/core/*.cppm")
file(GLOB protocol "${root}/engine/postgres/protocol/*.cppm")
file(GLOB engine "${root}/engine/*.cppm")
file(GLOB sqlite "${root}/engine/sqlite/*.cppm")
# The connection's operations (client/*.cpp) are implementation units of keel.postgres, with imports of their own.
file(GLOB postgres "${root}/engine/postgres/*.cppm" "${root}/engine/postgres/client/*.cpp")
file(GLOB orm "${root}/orm/*.cppm")
file(GLOB writer "${root}/writer/*.cppm")
file(GLOB orm_concepts "${root}/orm/*.inc")
file(GLOB writer_concepts "${root}/writer/*.inc")
file(GLOB_RECURSE concepts "${root}/core/*.inc" "${root}/engine/*.inc" "${root}/orm/*.inc" "${root}/writer/*.inc")
set(codecs_and_transport "")
foreach(name codecs value_codec text_format record connect_options transport)
  list(APPEND codecs_and_transport "${root}/engine/postgres/${name}.inc")
endforeach()
foreach(layer core protocol engine sqlite postgres orm writer concepts)
  if(NOT ${layer})
    message(FATAL_ERROR "check_layers: no module units of the ${layer} layer under ${root}")
  endif()
endforeach()

# A concept file is included in its library's module purview: an import there is ill-formed, and a header
# included there would belong to keel's module instead of the global module.
keel_forbid("imports inside a concept file (the library's .cppm imports)" "^[ \t]*(export[ \t]+)?import[ \t]" ${concepts})
keel_forbid("includes inside a concept file (the library's .cppm includes)" "^[ \t]*#[ \t]*include" ${concepts})
keel_purview_includes_concepts_only(${core} ${protocol} ${engine} ${sqlite} ${postgres} ${orm} ${writer})
# The core: no Asio, no other keel module. The sans-io protocol: bytes in, bytes out, the core below it.
keel_allow_imports("the core" "" ${core})
keel_allow_imports("the protocol" "keel.core" ${protocol})
keel_forbid("includes Asio" "#[ \t]*include[ \t]*[<\"]boost/asio" ${core} ${protocol})
# The codecs, connection options and transport know values, errors and the protocol, not engines. They share
# keel.postgres's one unit with the engine, so the rule is on names: none of the engine interface's.
keel_forbid("names the engine interface (a codec or the transport knows values, errors and the protocol)"
            "(^|[^A-Za-z0-9_])(Engine|StatementRunner|RawQuery|RawSql|Runnable|Atomic|Batches|Connection|ConnectionLease|ConnectionOwner|Cursor|ContextExecutor|ContextFrame|QueryLogger|QueryLoggers|LoggedStatement|RecordingEngine|Savepoint|Transaction|TransactionState|TransactionBody|TransactionOptions|IsolationLevel|run_query|run_collected|runner_for|current_runner)([^A-Za-z0-9_]|$)"
            ${codecs_and_transport})
# The engine interface knows no engine; an engine knows the interface and no ORM.
keel_allow_imports("the engine interface" "keel.core" ${engine})
keel_allow_imports("the SQLite engine" "keel.core;keel.engine" ${sqlite})
keel_allow_imports("the PostgreSQL engine" "keel.core;keel.engine;keel.postgres.protocol" ${postgres})
# The ORM (with its own reflection module) and the writer know only the engine interface, and ask the dialect's
# description rather than compare with one.
keel_allow_imports("the ORM" "keel.core;keel.engine;keel.reflection" ${orm})
keel_allow_imports("the writer" "keel.core;keel.engine" ${writer})
keel_forbid("branches on a concrete dialect instead of asking its description"
            "[=!]=[ \t]*(Dialect::(sqlite|postgres)|&?(sqlite|postgres)_dialect)|(Dialect::(sqlite|postgres)|name\\(\\))[ \t]*[=!]="
            ${orm} ${writer} ${orm_concepts} ${writer_concepts})

if(violations)
  list(JOIN violations "\n  " listed)
  message(FATAL_ERROR "layer rule broken:\n  ${listed}")
endif()
message(STATUS "layers: each of core, protocol, engine interface, engines, ORM and writer imports only what lies below; the codecs and transport name no engine; concept files neither include nor import")
