# Generates a C++ file holding every sql/NNN_*.sql as a string, in version order.
# Run at build time: cmake -DSQL_DIR=... -DOUT=... -P embed_sql.cmake
file(GLOB files "${SQL_DIR}/[0-9][0-9][0-9]_*.sql")
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  get_filename_component(name "${f}" NAME_WE)
  file(READ "${f}" text)
  string(APPEND body "      {\"${name}\", R\"smsbridge_sql(${text})smsbridge_sql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from sql/*.sql by api-daemon/embed_sql.cmake. Do not edit.\n#include \"api-daemon/migrations.hpp\"\n\nnamespace smsbridge::api {\n\nconst std::vector<migration>& builtin_migrations() {\n  static const std::vector<migration> all = {\n${body}  };\n  return all;\n}\n\n}  // namespace smsbridge::api\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
