# The CMake package of libfeishu_task:
#
#   find_package(feishu_task 0.2 REQUIRED)
#   target_link_libraries(app PRIVATE feishu_task::feishu_task)
#
# Installed by `cargo cinstall` to <prefix>/share/feishu_task/cmake/, where
# find_package looks with CMAKE_PREFIX_PATH=<prefix>; it finds the header and
# the library of that same prefix, relative to itself.

get_filename_component(_feishu_task_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

find_path(FEISHU_TASK_INCLUDE_DIR feishu_task.h
  PATHS "${_feishu_task_prefix}/include" NO_DEFAULT_PATH)
find_library(FEISHU_TASK_LIBRARY NAMES feishu_task
  PATHS "${_feishu_task_prefix}"
  PATH_SUFFIXES lib lib64 "lib/${CMAKE_LIBRARY_ARCHITECTURE}"
  NO_DEFAULT_PATH)
mark_as_advanced(FEISHU_TASK_INCLUDE_DIR FEISHU_TASK_LIBRARY)

if(NOT FEISHU_TASK_INCLUDE_DIR OR NOT FEISHU_TASK_LIBRARY)
  set(feishu_task_FOUND FALSE)
  set(feishu_task_NOT_FOUND_MESSAGE
    "libfeishu_task: feishu_task.h or the library is missing under ${_feishu_task_prefix}")
  return()
endif()

if(NOT TARGET feishu_task::feishu_task)
  add_library(feishu_task::feishu_task UNKNOWN IMPORTED)
  set_target_properties(feishu_task::feishu_task PROPERTIES
    IMPORTED_LOCATION "${FEISHU_TASK_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${FEISHU_TASK_INCLUDE_DIR}")
  # The static library (when only it is installed) needs what Rust's
  # standard library links against.
  if(FEISHU_TASK_LIBRARY MATCHES "\\.a$")
    find_package(Threads REQUIRED)
    set_property(TARGET feishu_task::feishu_task APPEND PROPERTY
      INTERFACE_LINK_LIBRARIES Threads::Threads ${CMAKE_DL_LIBS} m)
  endif()
endif()

set(feishu_task_FOUND TRUE)
unset(_feishu_task_prefix)
