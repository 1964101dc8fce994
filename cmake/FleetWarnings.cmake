# Strict warnings for everything the project compiles, through one interface target.
add_library(fleet_warnings INTERFACE)
target_compile_options(fleet_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wsign-conversion
  -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wundef
  -Wcast-align -Wpointer-arith -Wwrite-strings -Wvla
  $<$<BOOL:${FLEET_WERROR}>:-Werror>)
