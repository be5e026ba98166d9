// Writing a file so that a crash never leaves it half written: the bytes go to a
// temporary file beside the target, which is flushed to disk and renamed into place (a
// rename within a folder is atomic), and the folder is flushed so the rename lasts.
// Readers see the old file or the new one, never a mixture.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::detail {

// Writes the pieces one after another as the new contents of `path`; a failure throws
// kiln::Error starting with `op` ("save: ...", "write_csv: ...") and leaves `path` as it was.
void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces,
                           const char* op);

}  // namespace kiln::detail
