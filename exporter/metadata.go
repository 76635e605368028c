package exporter

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/xbuild/xbuild/imagestore"
	"github.com/xbuild/xbuild/internal/atomicfile"
)

// Exporter response keys the metadata file and --iidfile use.
const (
	KeyDigest       = "containerimage.digest"
	KeyConfigDigest = "containerimage.config.digest"
	KeyDescriptor   = "containerimage.descriptor"
	KeyImageName    = "image.name"
	KeyBuildRef     = "buildx.build.ref"
)

// Metadata turns BuildKit's exporter response into the metadata file's
// object: base64 values that hold a JSON object are embedded as JSON, the
// rest kept as they are. On the containerd store the image is known by its
// manifest or index digest, so the config digest, which users mistake for
// the image ID, is left out.
func Metadata(resp map[string]string, store imagestore.Kind) map[string]any {
	out := map[string]any{}
	for k, v := range resp {
		out[k] = decodeValue(v)
	}
	if store == imagestore.Containerd {
		delete(out, KeyConfigDigest)
	}
	return out
}

func decodeValue(v string) any {
	dt, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return v
	}
	var obj map[string]any
	if err := json.Unmarshal(dt, &obj); err != nil || len(obj) == 0 {
		return v
	}
	return json.RawMessage(dt)
}

// ImageID is what --iidfile holds: the config digest when the response has
// one, else the image digest.
func ImageID(md map[string]any) string {
	for _, k := range []string{KeyConfigDigest, KeyDigest} {
		if s, ok := md[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// WriteJSON writes v as indented JSON to path atomically.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(data, '\n'))
}

func writeAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error { return writeAtomic(path, data) }
