package invariant

import "fmt"

// Invariants, as the reliability suite numbers them.
const (
	ImagesComplete  = "I1"
	TagOldOrNew     = "I2"
	StateWhole      = "I3"
	ExitMeansOutput = "I5"
	NoSecretShown   = "I6"
	Recovers        = "I7"
	Reproducible    = "I8"
)

// Violation is one broken invariant.
type Violation struct {
	// Invariant is one of the constants above.
	Invariant string
	// Detail names what broke it: the image, blob, file or place.
	Detail string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

func violation(inv, format string, args ...any) Violation {
	return Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)}
}
