# The layers' rule, checked on the sources: each layer imports only the layers below it.
#   cmake -DKEEL_SOURCE_DIR=<tree> -P check_layers.cmake
# Fails naming each file that imports or includes what its layer may not.
if(NOT KEEL_SOURCE_DIR)
  message(FATAL_ERROR "check_layers: pass -DKEEL_SOURCE_DIR=<keel's source tree>")
endif()

set(violations "")

# keel_forbid(<what it is> <regex that must not match> <files...>)
function(keel_forbid what pattern)
  foreach(file IN LISTS ARGN)
    file(STRINGS "${file}" hits REGEX "${pattern}")
    if(hits)
      file(RELATIVE_PATH name "${KEEL_SOURCE_DIR}" "${file}")
      list(JOIN hits " | " shown)
      list(APPEND violations "${name}: ${what}: ${shown}")
    endif()
  endforeach()
  set(violations "${violations}" PARENT_SCOPE)
endfunction()

file(GLOB core "${KEEL_SOURCE_DIR}/core/*.cppm")
file(GLOB protocol "${KEEL_SOURCE_DIR}/engine/postgres/protocol/*.cppm")
file(GLOB engine "${KEEL_SOURCE_DIR}/engine/*.cppm")
file(GLOB orm "${KEEL_SOURCE_DIR}/orm/*.cppm")
file(GLOB writer "${KEEL_SOURCE_DIR}/writer/*.cppm")
set(codecs_and_transport "")
foreach(name codecs value_codec text_format record connect_options transport)
  list(APPEND codecs_and_transport "${KEEL_SOURCE_DIR}/engine/postgres/${name}.cppm")
endforeach()
if(NOT protocol OR NOT engine OR NOT orm OR NOT writer)
  message(FATAL_ERROR "check_layers: no module units found under ${KEEL_SOURCE_DIR}")
endif()

# The core: no Asio, no other keel module.
keel_forbid("the core includes Asio" "#include <boost/asio" ${core})
keel_forbid("the core imports another keel module" "^(export )?import keel\\." ${core})
# The sans-io protocol: bytes in, bytes out; the core alone below it.
keel_forbid("the protocol includes Asio" "#include <boost/asio" ${protocol})
keel_forbid("the protocol imports more than keel.core" "^import keel\\.(engine|orm|writer|sqlite|postgres);" ${protocol})
# The codecs, connection options and transport know values and errors, not engines.
keel_forbid("imports the engine interface, not only keel.core" "^import keel\\.engine;" ${codecs_and_transport})
# The engine interface knows no engine and no ORM.
keel_forbid("the engine interface imports an engine or the ORM" "^import keel\\.(sqlite|postgres|orm|writer)" ${engine})
# The ORM and the writer know only the engine interface, and ask the dialect's description rather than name one.
keel_forbid("imports a concrete engine" "^import keel\\.(sqlite|postgres)" ${orm} ${writer})
keel_forbid("branches on a concrete dialect instead of asking its description"
            "[=!]= *Dialect::(sqlite|postgres)|Dialect::(sqlite|postgres) *[=!]=" ${orm} ${writer})

if(violations)
  list(JOIN violations "\n  " listed)
  message(FATAL_ERROR "layer rule broken:\n  ${listed}")
endif()
message(STATUS "layers: core, protocol, codecs and transport, engine interface, ORM and writer import only what lies below")
