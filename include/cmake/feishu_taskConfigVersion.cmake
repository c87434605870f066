# The version of the installed libfeishu_task, read from its header (which the
# library's build writes from Cargo.toml), so this file never goes stale.
# Compatible: the same major version (the soname, libfeishu_task.so.<major>)
# and at least the version asked for.

get_filename_component(_feishu_task_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
file(STRINGS "${_feishu_task_prefix}/include/feishu_task.h" _feishu_task_lines
  REGEX "^#define FEISHU_TASK_VERSION_(MAJOR|MINOR|PATCH) [0-9]+$")
foreach(_feishu_task_line IN LISTS _feishu_task_lines)
  if(_feishu_task_line MATCHES "_(MAJOR|MINOR|PATCH) ([0-9]+)$")
    set(_feishu_task_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
  endif()
endforeach()

if(NOT DEFINED _feishu_task_MAJOR OR NOT DEFINED _feishu_task_MINOR OR NOT DEFINED _feishu_task_PATCH)
  set(PACKAGE_VERSION "0")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
else()
  set(PACKAGE_VERSION "${_feishu_task_MAJOR}.${_feishu_task_MINOR}.${_feishu_task_PATCH}")
  if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION
     OR NOT PACKAGE_FIND_VERSION_MAJOR STREQUAL _feishu_task_MAJOR)
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
    if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
      set(PACKAGE_VERSION_EXACT TRUE)
    endif()
  endif()
endif()
unset(_feishu_task_prefix)
unset(_feishu_task_lines)
