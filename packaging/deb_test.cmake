# Builds the .deb in BINARY_DIR and runs the DebPackage tests of TEST_EXE against it.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR} --target package
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --build ${BINARY_DIR} --target package failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env PADDOCK_REQUIRE_DEB=1 ${TEST_EXE}
                        --gtest_filter=DebPackage.* RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "DebPackage tests failed (${rc})")
endif()
