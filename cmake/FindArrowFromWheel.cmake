# Locates Apache Arrow / Parquet C++ for ctml.
#
# Order: a system installation (find_package(Arrow/Parquet CONFIG)) first; when there is none,
# the headers and shared libraries bundled in the pinned pyarrow wheel inside .venv/.
# Defines the imported targets ctml::arrow (arrow + compute + acero + dataset + parquet + s3 when
# present) and the variable CTML_ARROW_RPATH (directory to put in the binaries' RPATH).
find_package(Arrow CONFIG QUIET)
find_package(Parquet CONFIG QUIET)
find_package(ArrowDataset CONFIG QUIET)
if(Arrow_FOUND AND Parquet_FOUND AND ArrowDataset_FOUND)
  message(STATUS "Arrow: system installation ${Arrow_VERSION}")
  add_library(ctml::arrow INTERFACE IMPORTED)
  target_link_libraries(ctml::arrow INTERFACE Arrow::arrow_shared Parquet::parquet_shared
                                              ArrowDataset::arrow_dataset_shared)
  set(CTML_ARROW_RPATH "")
  return()
endif()

set(_venv "${CMAKE_SOURCE_DIR}/.venv")
if(DEFINED ENV{CTML_VENV})
  set(_venv "$ENV{CTML_VENV}")
endif()
file(GLOB _pa_dirs "${_venv}/lib/python3*/site-packages/pyarrow")
list(LENGTH _pa_dirs _n)
if(_n EQUAL 0)
  message(FATAL_ERROR "Apache Arrow C++ not found: no system Arrow and no pyarrow in ${_venv}. "
                      "Run scripts/bootstrap.sh first.")
endif()
list(GET _pa_dirs 0 _pa)
message(STATUS "Arrow: pyarrow wheel at ${_pa}")
set(CTML_ARROW_RPATH "${_pa}")
add_library(ctml::arrow INTERFACE IMPORTED)
target_include_directories(ctml::arrow SYSTEM INTERFACE "${_pa}/include")
foreach(_lib arrow arrow_compute arrow_acero arrow_dataset parquet arrow_s3)
  file(GLOB _so "${_pa}/lib${_lib}.so.[0-9]*")
  list(FILTER _so EXCLUDE REGEX "\\.so\\.[0-9]+\\.[0-9]")
  if(_so)
    list(GET _so 0 _so)
    target_link_libraries(ctml::arrow INTERFACE "${_so}")
  elseif(NOT _lib STREQUAL "arrow_s3")
    message(FATAL_ERROR "pyarrow wheel lacks lib${_lib}.so")
  endif()
endforeach()
