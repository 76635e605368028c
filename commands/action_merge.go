package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/identity"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/imagetools"
)

// mergeInputs make a step the last of a native multi-runner build: it
// joins the images its legs pushed by digest into one index under tags.
var mergeInputs = []string{"merge", "merge-dir"}

// mergeReads are the other inputs a merge step reads, or that action.yml
// gives every step a default for.
var mergeReads = []string{"tags", "annotations", "push", "github-token", "version", "xbuild-path",
	"use", "cleanup", "keep-state", "install", "cache-binary"}

// hexName is a digest file's name: the hex of a sha256 or sha512 digest.
var hexName = regexp.MustCompile(`^(?:[0-9a-f]{64}|[0-9a-f]{128})$`)

// mergeRequest is a merge step's inputs, every one checked.
type mergeRequest struct {
	sources     []string // name@digest, once each
	tags        []string
	annotations []string
}

// readMergeRequest reads a merge step's inputs before any registry is
// asked: the tags, then the digests of merge and merge-dir.
func readMergeRequest(in actionInputs) (*mergeRequest, error) {
	if err := checkMergeInputs(in); err != nil {
		return nil, err
	}
	req := &mergeRequest{}
	var err error
	if req.tags, err = in.list("tags", true); err != nil {
		return nil, err
	}
	if len(req.tags) == 0 {
		return nil, errors.New("a merge step needs tags: the names to push the merged index under")
	}
	first, err := imagetools.ParseTag(req.tags[0])
	if err != nil {
		return nil, fmt.Errorf("input tags: %w", err)
	}
	if req.annotations, err = in.list("annotations", false); err != nil {
		return nil, err
	}
	refs, err := in.list("merge", true)
	if err != nil {
		return nil, err
	}
	files, err := digestFiles(in.get("merge-dir"))
	if err != nil {
		return nil, err
	}
	for _, r := range append(refs, files...) {
		src, err := mergeSource(r, first.Name())
		if err != nil {
			return nil, fmt.Errorf("input merge: %w", err)
		}
		if !slices.Contains(req.sources, src) {
			req.sources = append(req.sources, src)
		}
	}
	if len(req.sources) == 0 {
		return nil, errors.New("no digests to merge: merge and merge-dir name none (did the build legs write their digest-dir, and was it downloaded here?)")
	}
	return req, nil
}

// checkMergeInputs refuses what a merge step would leave unread: it builds
// nothing and creates no builder.
func checkMergeInputs(in actionInputs) error {
	for _, l := range [][]string{buildInputs, bakeInputs, setupInputs, digestInputs} {
		for _, n := range l {
			if in.get(n) != "" && !slices.Contains(mergeReads, n) {
				return fmt.Errorf("input %s does not apply to a merge step (merge, merge-dir), which builds nothing: it only joins pushed images under tags", n)
			}
		}
	}
	if p := in.get("push"); p != "" {
		if b, err := in.bool("push"); err != nil || !b {
			return fmt.Errorf("input push %q: a merge step always pushes its index; drop push", p)
		}
	}
	return nil
}

// mergeSource turns one digest (bare hex, sha256:..., or name@sha256:...)
// into the name@digest to read. A digest alone is read from the first
// tag's repository, where the legs pushed it with the same tags.
func mergeSource(s, repo string) (string, error) {
	if hexName.MatchString(s) {
		s = string(hexAlgorithm(s)) + ":" + s
	}
	if strings.HasPrefix(s, "{") {
		return "", fmt.Errorf("%q: give a digest or name@digest, not a descriptor", s)
	}
	src, err := imagetools.ParseSource(s)
	if err != nil {
		return "", err
	}
	if src.Ref != "" {
		return src.Ref, nil
	}
	return repo + "@" + src.Desc.Digest.String(), nil
}

func hexAlgorithm(hex string) digest.Algorithm {
	if len(hex) == 128 {
		return digest.SHA512
	}
	return digest.SHA256
}

// digestFiles reads the digests of a digest folder: every file in it, or
// in its subfolders (download-artifact without merge-multiple puts each
// artifact in one), is named after a digest's hex.
func digestFiles(dir string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("input merge-dir: %s is not a folder (download the build legs' digest-dir there first)", dir)
	}
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return nil
		case !hexName.MatchString(d.Name()):
			return fmt.Errorf("file %s is not named after a digest's hex, as digest-dir writes them", p)
		}
		out = append(out, d.Name())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("input merge-dir: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("input merge-dir: %s holds no digest files (the build legs' digest-dir, downloaded here)", dir)
	}
	slices.Sort(out)
	return out, nil
}

// runActionMerge joins the legs' images into one index with imagetools
// create, each leg's attestations kept with its image, pushes it under
// every tag and writes the step's outputs.
func runActionMerge(ctx context.Context, env *Env, in actionInputs) error {
	req, err := readMergeRequest(in)
	if err != nil {
		return err
	}
	md := filepath.Join(runnerTemp(env), "xbuild-merge-"+identity.NewID()+".json")
	defer os.Remove(md)
	o := &imagetoolsCreateOptions{tags: req.tags, annotations: req.annotations, preferIndex: true, progress: "plain", metadataFile: md}
	fmt.Fprintf(env.Stdout, "merging %s\n", strings.Join(req.sources, ", "))
	if err := runImagetoolsCreate(ctx, env, req.sources, o); errors.Is(err, imagetools.ErrNotFound) {
		return fmt.Errorf("merging the pushed images: %w (was it pushed there, by a build step with push-by-digest and the same tags?)", err)
	} else if err != nil {
		return fmt.Errorf("merging the pushed images: %w", err)
	}
	data, err := os.ReadFile(md)
	if err != nil {
		return fmt.Errorf("reading the merged index's descriptor: %w", err)
	}
	var created struct {
		Desc ocispecs.Descriptor `json:"containerimage.descriptor"`
	}
	if err := json.Unmarshal(data, &created); err != nil {
		return fmt.Errorf("reading the merged index's descriptor: %w", err)
	}
	return writeMergeResults(env, req, created.Desc)
}

// writeMergeResults writes a merge step's outputs, build-push-action's
// digest, imageid and metadata for the index, and its job summary.
func writeMergeResults(env *Env, req *mergeRequest, desc ocispecs.Descriptor) error {
	md, err := json.MarshalIndent(map[string]any{
		exporter.KeyDescriptor: desc,
		exporter.KeyDigest:     desc.Digest.String(),
		exporter.KeyImageName:  strings.Join(req.tags, ","),
	}, "", "  ")
	if err != nil {
		return err
	}
	d := desc.Digest.String()
	for _, o := range []actionOutput{{"digest", d}, {"imageid", d}, {"metadata", string(md)}} {
		if err := appendGitHubFile(env, "GITHUB_OUTPUT", o.name, o.value); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Stdout, "merged %d images into %s under %s\n", len(req.sources), d, strings.Join(req.tags, ", "))
	path := env.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" || !actionSwitch(env, "DOCKER_BUILD_SUMMARY") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(mergeSummary(req, d))
	return err
}

func mergeSummary(req *mergeRequest, d string) string {
	var b strings.Builder
	b.WriteString("## Merge summary\n\n| Tags | Digest | Sources |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| %s | `%s` | %s |\n", strings.Join(req.tags, ", "), d, strings.Join(req.sources, "<br>"))
	return b.String()
}

func runnerTemp(env *Env) string {
	if tmp := env.Getenv("RUNNER_TEMP"); tmp != "" {
		return tmp
	}
	return os.TempDir()
}
