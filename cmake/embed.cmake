# overseer_embed(target name dir glob): compiles every file matching dir/glob into `target`
# as `overseer::embedded::<name>()`, a sorted list of {file name, contents}.
function(overseer_embed target name dir glob)
  file(GLOB files CONFIGURE_DEPENDS ${dir}/${glob})
  list(SORT files)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embedded_${name}.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAME=${name} "-DFILES=${files}"
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_gen.cmake
    DEPENDS ${files} ${PROJECT_SOURCE_DIR}/cmake/embed_gen.cmake
    COMMENT "Embedding ${name}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
