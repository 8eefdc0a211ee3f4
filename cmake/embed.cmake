# Embeds every sql/*.sql file into the binary as a NUL-terminated string, so
# the server can create and seed its database from wherever it runs.
function(looplab_embed_sql out dir)
  file(GLOB files CONFIGURE_DEPENDS ${dir}/*.sql)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DDIR=${dir} -P ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_run.cmake
    COMMENT "Embedding sql/*.sql")
endfunction()
