package tests

import (
	"path/filepath"
	"testing"

	"github.com/xbuild/xbuild/tests/internal/invariant"
)

// I8: the same build, run again from scratch (--no-cache) with
// SOURCE_DATE_EPOCH set, gives the same image digest. buildx passes
// SOURCE_DATE_EPOCH from the environment to BuildKit as the build arg of
// that name unless one is given; both ways are checked. File times are
// rewritten to the epoch (rewrite-timestamp=true) and provenance, which
// records when and where the build ran, is off.
func TestReliabilityReproducible(t *testing.T) {
	t.Parallel()
	cfg := t.TempDir()
	mustXB(t, cfg, []string{"create", "--name", "r", "--driver", "remote", env.BuildKit})
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": "FROM " + env.BaseImage + "\nCOPY app.txt /app.txt\nRUN echo built > /built && mkdir /made\n",
		"app.txt":    "reproducible " + uniqueNumber() + "\n",
	})
	t.Run("reproducible-env", func(t *testing.T) {
		reproducible(t, cfg, ctxDir, "SOURCE_DATE_EPOCH=0 in the environment", nil, withEnv("SOURCE_DATE_EPOCH=0"))
	})
	t.Run("reproducible-arg", func(t *testing.T) {
		reproducible(t, cfg, ctxDir, "--build-arg SOURCE_DATE_EPOCH=0", []string{"--build-arg", "SOURCE_DATE_EPOCH=0"}, withEnv("SOURCE_DATE_EPOCH="))
	})
}

// reproducible builds ctxDir twice from scratch, pushing each to a tag of
// its own, and compares the digests the metadata files record.
func reproducible(t *testing.T, cfg, ctxDir, how string, extra []string, opts ...runOpt) {
	s := newScenario(t)
	var digests []string
	for i := range 2 {
		md := filepath.Join(t.TempDir(), "metadata.json")
		ref := env.Registry + "/xbuild-test/rel-repro:" + uniqueNumber()
		args := append([]string{"build", "--builder", "r", "--no-cache", "--provenance=false", "--metadata-file", md,
			"--output", "type=image,name=" + ref + ",push=true,rewrite-timestamp=true"}, extra...)
		mustXB(t, cfg, append(args, ctxDir), opts...)
		d := metadataDigest(md)
		if d == "" {
			t.Fatalf("build %d recorded no digest in %s", i+1, md)
		}
		digests = append(digests, d.String())
	}
	if digests[0] != digests[1] {
		s.violate(invariant.Reproducible, "the same build twice with %s gave %s and %s", how, digests[0], digests[1])
	}
}
