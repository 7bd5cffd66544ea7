# Writes OUT: a C++ file defining entitle::store::embedded_migrations(),
# one entry per schema/NNNN_name.sql file in FILES, in order.
set(body "")
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME)
  string(SUBSTRING ${name} 0 4 num)
  math(EXPR version "${num}")  # strips leading zeros
  file(READ ${f} sql)
  string(APPEND body "        {${version}, \"${name}\", R\"entitle_sql(${sql})entitle_sql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from schema/*.sql by cmake/embed_migrations.cmake. Do not edit.
#include \"store/migrations.hpp\"

namespace entitle::store {

const std::vector<Migration>& embedded_migrations() {
    static const std::vector<Migration> all = {
${body}    };
    return all;
}

}  // namespace entitle::store
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
