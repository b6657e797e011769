# CO-RE pipeline: vmlinux.h from the running kernel's BTF (a committed copy only as fallback),
# clang -target bpf for each program, bpftool gen skeleton for the loader embedded in the binary.
find_program(SL_CLANG_BPF NAMES clang-16 clang REQUIRED)
find_program(SL_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(SL_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${SL_GEN_DIR})
set(SL_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF used to generate vmlinux.h")
set(SL_VMLINUX_H ${SL_GEN_DIR}/vmlinux.h)

add_custom_command(OUTPUT ${SL_VMLINUX_H}
  COMMAND sh -c "${SL_BPFTOOL} btf dump file ${SL_VMLINUX_BTF} format c > ${SL_VMLINUX_H}.tmp"
  COMMAND ${CMAKE_COMMAND} -E rename ${SL_VMLINUX_H}.tmp ${SL_VMLINUX_H}
  COMMENT "Generating vmlinux.h from ${SL_VMLINUX_BTF}"
  VERBATIM)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(SL_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(SL_BPF_ARCH arm64)
else()
  set(SL_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

function(sl_bpf_skeletons out_var)
  set(outputs)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/include/sightline/*.h ${CMAKE_SOURCE_DIR}/bpf/*.bpf.h)
  foreach(src ${ARGN})
    get_filename_component(name ${src} NAME_WE)  # process.bpf.c -> process
    set(obj ${SL_GEN_DIR}/${name}.bpf.o)
    set(skel ${SL_GEN_DIR}/${name}.skel.h)
    add_custom_command(OUTPUT ${obj}
      COMMAND ${SL_CLANG_BPF} -g -O2 -target bpf -D__TARGET_ARCH_${SL_BPF_ARCH}
              -Wall -Werror -Wno-unused-function
              -I${SL_GEN_DIR} -I${CMAKE_SOURCE_DIR}/bpf/include -c ${src} -o ${obj}
      DEPENDS ${src} ${SL_VMLINUX_H} ${bpf_headers}
      COMMENT "BPF ${name}.bpf.c"
      VERBATIM)
    add_custom_command(OUTPUT ${skel}
      COMMAND sh -c "${SL_BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp"
      COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
      DEPENDS ${obj}
      COMMENT "skeleton ${name}.skel.h"
      VERBATIM)
    list(APPEND outputs ${skel})
  endforeach()
  set(${out_var} ${outputs} PARENT_SCOPE)
endfunction()
