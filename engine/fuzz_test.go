package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzReadLoadStream feeds ReadLoadStream any bytes, as a broken or hostile
// engine might send them. It must not panic; a failure is one non-empty
// line (main prints it after "ERROR: "); and a stream holding an error
// message is never taken for a successful load.
func FuzzReadLoadStream(f *testing.F) {
	for _, s := range []string{
		`{"stream":"Loaded image: a:1\n"}`,
		`{"stream":"x"}{"errorDetail":{"message":"boom"},"error":"boom"}`,
		`{"stream":"Error unpacking image a:1: no space\n"}{"stream":"Loaded image: a:1\n"}`,
		`{"status":"Error: no such layer"}`,
		`{"error":"first line\nsecond line"}`,
		`{"errorDetail":{"message":"  "}}`,
		`{"stream":"Loa`,
		`[1,2]`, `null`, `"text"`, ``, " \n\t",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := ReadLoadStream(bytes.NewReader(data))
		if err != nil {
			if msg := err.Error(); strings.TrimSpace(msg) == "" || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("ReadLoadStream(%q) error = %q, want one non-empty line", data, msg)
			}
			return
		}
		// Accepted: every message decoded, and none carried an error.
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var m loadMessage
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("ReadLoadStream(%q) = nil, but the stream does not decode: %v", data, err)
			}
			if m.Error != "" || (m.ErrorDetail != nil && m.ErrorDetail.Message != "") {
				t.Fatalf("ReadLoadStream(%q) = nil, but the engine reported %+v", data, m)
			}
		}
	})
}
