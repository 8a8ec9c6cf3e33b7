// Name of the Model.metadata entry that carries actsparse's mask annotation.
// The format itself is specified in docs/FORMAT.md; the Python twin of this
// constant is actsparse.format.METADATA_NAME, and a test checks they agree.
#ifndef ACTSPARSE_DELEGATE_FORMAT_METADATA_NAME_H_
#define ACTSPARSE_DELEGATE_FORMAT_METADATA_NAME_H_

namespace actsparse {

inline constexpr char kMetadataName[] = "actsparse.masks";

}  // namespace actsparse

#endif  // ACTSPARSE_DELEGATE_FORMAT_METADATA_NAME_H_
