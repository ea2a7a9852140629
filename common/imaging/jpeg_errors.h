#pragma once
// libjpeg reports fatal errors through error_exit, which by default calls
// exit(). The encoder and the decoder install JpegErrorExit instead: it keeps
// libjpeg's message and longjmps back to the caller's setjmp on `jump`.

#include <csetjmp>
#include <cstdio>

#include "jpeglib.h"

namespace align::imaging {

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg casts cinfo->err to this struct
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// error_exit for a cinfo whose err is a JpegErrorManager.
[[noreturn]] void JpegErrorExit(j_common_ptr cinfo);

}  // namespace align::imaging
