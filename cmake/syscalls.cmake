# Syscall names from the kernel's own table, as its uapi header states it (asm/unistd*.h is
# generated from arch/*/entry/syscalls/*.tbl). Numbers newer than the build host's headers are
# shown as syscall_<nr>.
find_file(SL_UNISTD_H NAMES asm/unistd_64.h asm-generic/unistd.h
          PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE} /usr/include NO_DEFAULT_PATH)
set(SL_SYSCALL_NAMES_INC ${SL_GEN_DIR}/syscall_names.inc)
file(STRINGS ${SL_UNISTD_H} sl_nr_lines REGEX "^#define __NR_[a-z0-9_]+ [0-9]+$")
set(sl_inc "// Generated from ${SL_UNISTD_H}: {number, name}\n")
foreach(line ${sl_nr_lines})
  string(REGEX REPLACE "^#define __NR_([a-z0-9_]+) ([0-9]+)$" "{\\2, \"\\1\"},\n" entry "${line}")
  string(APPEND sl_inc "${entry}")
endforeach()
file(WRITE ${SL_SYSCALL_NAMES_INC}.tmp "${sl_inc}")
file(COPY_FILE ${SL_SYSCALL_NAMES_INC}.tmp ${SL_SYSCALL_NAMES_INC} ONLY_IF_DIFFERENT)
