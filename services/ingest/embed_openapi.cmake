# Embed docs/openapi.json as the C string ingest serves at
# GET /v1/openapi.json (cmake -P, run at build time):
#   -DIN=<docs/openapi.json> -DOUT=<generated .c>
# Bytes are written as \x escapes, so no JSON text can upset C.
cmake_minimum_required(VERSION 3.18)
file(READ ${IN} hex HEX)
file(SIZE ${IN} size)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" esc "${hex}")
string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){24})" "\\1\"\n    \"" esc "${esc}")
file(WRITE ${OUT} "/* Generated from docs/openapi.json by services/ingest/embed_openapi.cmake.\n * Do not edit. */\n#include <stddef.h>\n\nconst char ingest_openapi_json[] =\n    \"${esc}\";\nconst size_t ingest_openapi_json_len = ${size};\n")
