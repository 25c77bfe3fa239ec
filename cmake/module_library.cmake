# keel_module_library(<name> MODULES <module units...> [CONCEPTS <concept files...>] LINK <public dependencies...>)
# One of keel's libraries: the module units of keel_<name> (alias keel::<name>, exported as keel::<name>), built
# with keel's warnings, which stay on keel's own targets. LINK names every keel library whose module a unit
# imports directly: a consumer of an installed keel builds each library's modules knowing only the modules of
# its direct dependencies (a keel.core imported through keel_engine alone is "not found" there).
# CONCEPTS are the .inc files that a library's one interface unit includes, a concept each; they install beside
# it, since a consumer's build compiles that unit.
function(keel_module_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "MODULES;CONCEPTS;LINK")
  add_library(keel_${name})
  add_library(keel::${name} ALIAS keel_${name})
  target_sources(keel_${name} PUBLIC FILE_SET CXX_MODULES BASE_DIRS ${PROJECT_SOURCE_DIR} FILES ${arg_MODULES})
  if(arg_CONCEPTS)
    target_sources(keel_${name} PUBLIC FILE_SET HEADERS BASE_DIRS ${PROJECT_SOURCE_DIR} FILES ${arg_CONCEPTS})
  endif()
  # A concept file compiles only inside its unit: a parent project's CMAKE_VERIFY_INTERFACE_HEADER_SETS must skip it.
  set_target_properties(keel_${name} PROPERTIES VERIFY_INTERFACE_HEADER_SETS OFF)
  target_link_libraries(keel_${name} PUBLIC ${arg_LINK} PRIVATE $<BUILD_INTERFACE:keel_options>)
  set_target_properties(keel_${name} PROPERTIES EXPORT_NAME ${name})
endfunction()
