# Compiles the OpenAPI document (YAML, and JSON converted here by node) and the Swagger UI
# page into overseer_api, as overseer::embedded::openapi_docs() and ::swagger_ui()
# (served by src/api/docs.cc). Node.js and node_modules (npm ci) are needed to configure,
# not to run: the binary carries the files.
find_program(OVERSEER_NODE NAMES node nodejs)
if(NOT OVERSEER_NODE)
  message(FATAL_ERROR "overseer: Node.js ('node') is needed at build time to convert "
                      "api/openapi.yaml to JSON and to provide Swagger UI (apt-get install nodejs npm, "
                      "then 'npm ci' at the repository root; 'make deps' does both).")
endif()
set(OVERSEER_SWAGGER_UI_DIR ${PROJECT_SOURCE_DIR}/node_modules/swagger-ui-dist)
if(NOT EXISTS ${OVERSEER_SWAGGER_UI_DIR}/swagger-ui-bundle.js)
  message(FATAL_ERROR "overseer: ${OVERSEER_SWAGGER_UI_DIR} not found: run 'npm ci' in "
                      "${PROJECT_SOURCE_DIR} ('make deps' does).")
endif()
file(READ ${OVERSEER_SWAGGER_UI_DIR}/package.json swagger_ui_package)
string(JSON SWAGGER_UI_VERSION GET ${swagger_ui_package} version)

# Swagger UI: the files /docs loads, staged so that one glob embeds exactly them.
# configure_file re-runs cmake when a source changes.
set(swagger_stage ${PROJECT_BINARY_DIR}/embed/swagger_ui)
foreach(f swagger-ui.css swagger-ui-bundle.js swagger-ui-standalone-preset.js
          favicon-16x16.png favicon-32x32.png)
  configure_file(${OVERSEER_SWAGGER_UI_DIR}/${f} ${swagger_stage}/${f} COPYONLY)
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/api/docs/index.html ${swagger_stage}/index.html @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/api/docs/swagger-initializer.js
               ${swagger_stage}/swagger-initializer.js COPYONLY)

# The document: YAML as written, JSON converted now.
set(openapi_stage ${PROJECT_BINARY_DIR}/embed/openapi)
configure_file(${PROJECT_SOURCE_DIR}/api/openapi.yaml ${openapi_stage}/openapi.yaml COPYONLY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/api/openapi_to_json.mjs)
execute_process(
  COMMAND ${OVERSEER_NODE} ${PROJECT_SOURCE_DIR}/api/openapi_to_json.mjs
          ${PROJECT_SOURCE_DIR}/api/openapi.yaml ${PROJECT_BINARY_DIR}/embed/openapi.json.tmp
  RESULT_VARIABLE openapi_rc
  ERROR_VARIABLE openapi_err)
if(NOT openapi_rc EQUAL 0)
  message(FATAL_ERROR "overseer: converting api/openapi.yaml to JSON failed: ${openapi_err}")
endif()
file(COPY_FILE ${PROJECT_BINARY_DIR}/embed/openapi.json.tmp ${openapi_stage}/openapi.json
     ONLY_IF_DIFFERENT)

overseer_embed(overseer_api openapi_docs ${openapi_stage} "*")
overseer_embed(overseer_api swagger_ui ${swagger_stage} "*")
