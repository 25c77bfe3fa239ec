// keel's version, written here and nowhere else: CMakeLists.txt reads it for the project and for the package
// that find_package(keel 0.2 CONFIG) checks.
module;
#include <string_view>
export module keel.core:version;

export namespace keel {

/// keel's major version.
inline constexpr int version_major = 0;
/// keel's minor version.
inline constexpr int version_minor = 2;
/// keel's patch version.
inline constexpr int version_patch = 0;
/// keel's version as text: major.minor.patch.
inline constexpr std::string_view version_text = "0.2.0";

}  // namespace keel
