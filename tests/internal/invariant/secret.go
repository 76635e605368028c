package invariant

import (
	"bytes"
	"encoding/base64"
	"maps"
	"slices"
	"strings"
)

// Secret returns a violation of I6 for each place whose content shows
// marker, as is or base64-encoded at any alignment: metadata files and
// rawjson progress carry provenance and log lines as base64, and an
// Authorization header or a config.json auth would carry a password so.
// places maps a name for the report ("plain progress", a file) to what it
// held.
func Secret(marker string, places map[string][]byte) []Violation {
	forms := encodings(marker)
	var out []Violation
	for _, name := range slices.Sorted(maps.Keys(places)) {
		data := places[name]
		if bytes.Contains(data, []byte(marker)) {
			out = append(out, violation(NoSecretShown, "%s shows the secret: %s", name, around(data, []byte(marker))))
			continue
		}
		for _, f := range forms {
			if bytes.Contains(data, []byte(f)) {
				out = append(out, violation(NoSecretShown, "%s shows the secret base64-encoded: %s", name, around(data, []byte(f))))
				break
			}
		}
	}
	return out
}

// encodings are the parts of marker's base64 forms (standard and URL
// alphabets) that do not depend on the bytes around it: for each of the
// three offsets at which it can start within a 3-byte group, the groups
// made of its bytes only.
func encodings(marker string) []string {
	var out []string
	for k := range 3 {
		b := append(make([]byte, k), marker...)
		full := len(b) / 3
		start := 0
		if k > 0 {
			start = 1
		}
		if full-start < 2 {
			continue // too short to tell from chance
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			s := enc.EncodeToString(b)[start*4 : full*4]
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// around quotes what surrounds a match, so the report shows where it is.
func around(data, match []byte) string {
	i := bytes.Index(data, match)
	lo, hi := max(0, i-60), min(len(data), i+len(match)+60)
	return strings.ReplaceAll(string(data[lo:hi]), "\n", `\n`)
}
