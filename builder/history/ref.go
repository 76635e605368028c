package history

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Ref is a parsed reference to a record.
type Ref struct {
	// ID is the build's ID (its BuildKit ref); empty for an offset.
	ID string
	// Builder and Node, when set, say where the build ran, as the
	// metadata file's buildx.build.ref names it (BUILDER/NODE/ID).
	Builder, Node string
	// Offset counts back from the newest build when ID is empty: ^0 (or
	// no reference) is the newest, ^1 the one before.
	Offset int
}

// ParseRef reads a reference as buildx's history commands take it: empty
// or ^N for an offset, else a build ID, also in the BUILDER/NODE/ID form.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, nil
	}
	if n, ok := strings.CutPrefix(s, "^"); ok {
		off, err := strconv.Atoi(n)
		if err != nil || off < 0 || strings.HasPrefix(n, "+") {
			return Ref{}, fmt.Errorf("invalid offset %q: use ^N with N a whole number (^0 is the newest build)", s)
		}
		return Ref{Offset: off}, nil
	}
	parts := strings.Split(s, "/")
	if (len(parts) != 1 && len(parts) != 3) || slices.Contains(parts, "") {
		return Ref{}, fmt.Errorf("invalid build reference %q: use a build ID, BUILDER/NODE/ID or ^N", s)
	}
	id := parts[len(parts)-1]
	// BuildKit's IDs are letters and digits; the check keeps an ID from
	// being read as filter syntax by the daemon.
	if strings.ContainsFunc(id, func(r rune) bool { return !isIDRune(r) }) {
		return Ref{}, fmt.Errorf("invalid build ID %q: an ID has only letters, digits, '-', '_' and '.'", id)
	}
	if len(parts) == 1 {
		return Ref{ID: id}, nil
	}
	return Ref{Builder: parts[0], Node: parts[1], ID: id}, nil
}

func isIDRune(r rune) bool {
	return r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}
