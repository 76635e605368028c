package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distribution/reference"

	digest "github.com/opencontainers/go-digest"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// digestInputs make a build step one leg of a native multi-runner build:
// it pushes its image by digest only and leaves the digest in a folder,
// for a later merge step to join with the other legs' images.
var digestInputs = []string{"push-by-digest", "digest-dir"}

// pushByDigestOutput is the output a push-by-digest step builds to, the
// one workflows write by hand for this; its names are the repositories of
// tags.
const pushByDigestOutput = "type=image,push-by-digest=true,name-canonical=true,push=true"

// applyDigestInputs turns push-by-digest into its output, in place of
// push, and checks that digest-dir has a pushed digest to write.
func (in actionInputs) applyDigestInputs(o *buildOptions) error {
	byDigest, err := in.bool("push-by-digest")
	if err != nil {
		return err
	}
	if !byDigest {
		if in.get("digest-dir") != "" && !o.push {
			return errors.New("input digest-dir writes the digest of the pushed image: set push-by-digest: true (or push: true)")
		}
		return nil
	}
	switch {
	case len(o.tags) == 0:
		return errors.New("input push-by-digest needs tags: the image names to push to (by digest only, no tag is pushed)")
	case len(o.outputs) > 0:
		return errors.New("inputs push-by-digest and outputs both given: push-by-digest is an output of its own (" + pushByDigestOutput + "); keep one")
	case o.load == "true":
		return errors.New("inputs push-by-digest and load both given: a leg pushed by digest is loaded nowhere; drop load")
	}
	repos, err := tagRepositories(o.tags)
	if err != nil {
		return err
	}
	// push: true, as build-push-action's workflows have it, means this
	// same push; kept, it would also push the tags.
	o.push = false
	o.outputs = []string{pushByDigestOutput + "," + csvJoin("name="+strings.Join(repos, ","))}
	return nil
}

// tagRepositories are the repositories of tags, once each: BuildKit pushes
// by digest only to a name without a tag.
func tagRepositories(tags []string) ([]string, error) {
	var repos []string
	for _, t := range tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", t, err)
		}
		if r := reference.TrimNamed(named).String(); !slices.Contains(repos, r) {
			repos = append(repos, r)
		}
	}
	return repos, nil
}

// checkDigestInputs refuses the digest inputs on a step that is not a
// single build: a bake file says per target how it is pushed.
func checkDigestInputs(in actionInputs, mode actionMode) error {
	if mode != modeBake {
		return nil
	}
	for _, n := range digestInputs {
		if in.get(n) != "" {
			return fmt.Errorf("input %s is for a build step, not bake: give the bake target the output %s", n, pushByDigestOutput)
		}
	}
	return nil
}

// writeDigestFile leaves the pushed image's digest in dir as an empty file
// named after its hex, the shape actions/upload-artifact carries from leg
// to merge step.
func writeDigestFile(dir string, res *builder.Result) error {
	if dir == "" {
		return nil
	}
	var d digest.Digest
	if res != nil {
		s, _ := res.Metadata[exporter.KeyDigest].(string)
		d = digest.Digest(s)
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("input digest-dir: the build reported no pushed digest (%q): nothing to write", d)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("input digest-dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, d.Encoded()), nil, 0o644); err != nil {
		return fmt.Errorf("input digest-dir: %w", err)
	}
	return nil
}
