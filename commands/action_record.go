package commands

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/history"
	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/internal/atomicfile"
)

// actionSwitch reads one of the DOCKER_BUILD_* switches build-push-action
// reads: on unless set to a false value; a value that is not a boolean
// leaves it on rather than failing a build that is done.
func actionSwitch(env *Env, name string) bool {
	b, err := strconv.ParseBool(env.Getenv(name))
	return err != nil || b
}

// buildRefs are the build IDs of the results, as BUILDER/NODE/ID from their
// metadata, once each and sorted.
func buildRefs(results map[string]*builder.Result) []string {
	var refs []string
	for _, res := range results {
		s, _ := res.Metadata[exporter.KeyBuildRef].(string)
		for _, r := range strings.Split(s, ",") {
			if r = strings.TrimSpace(r); r != "" && !slices.Contains(refs, r) {
				refs = append(refs, r)
			}
		}
	}
	slices.Sort(refs)
	return refs
}

// recordPath is where the step's build record goes: build-push-action's
// name, OWNER~REPO~ID, under RUNNER_TEMP.
func recordPath(env *Env, firstRef string) string {
	id := firstRef[strings.LastIndex(firstRef, "/")+1:]
	id = strings.ToUpper(id[:min(len(id), 6)])
	repo := strings.ReplaceAll(env.Getenv("GITHUB_REPOSITORY"), "/", "~")
	if repo == "" {
		repo = "xbuild"
	}
	return filepath.Join(env.Getenv("RUNNER_TEMP"), repo+"~"+id+".dockerbuild")
}

// writeBuildRecord exports the step's build records, as `history export`
// does, into a .dockerbuild bundle under RUNNER_TEMP and names it in the
// record output, for actions/upload-artifact or Docker Desktop's import.
// DOCKER_BUILD_RECORD_UPLOAD=false skips it. A record that cannot be
// written is a warning: the build it records has succeeded.
func writeBuildRecord(ctx context.Context, env *Env, builderName string, results map[string]*builder.Result) error {
	refs := buildRefs(results)
	if !actionSwitch(env, "DOCKER_BUILD_RECORD_UPLOAD") || len(refs) == 0 || env.Getenv("RUNNER_TEMP") == "" {
		return nil
	}
	path := recordPath(env, refs[0])
	if err := exportRecords(ctx, env, builderName, refs, path); err != nil {
		fmt.Fprintf(env.Stdout, "::warning::build record not written: %s\n", oneLine(err.Error()))
		return nil
	}
	fmt.Fprintf(env.Stdout, "build record written to %s\n", path)
	return appendGitHubFile(env, "GITHUB_OUTPUT", "record", path)
}

func exportRecords(ctx context.Context, env *Env, builderName string, refs []string, path string) error {
	src, err := openHistory(ctx, env, builderName)
	if err != nil {
		return err
	}
	defer src.Close()
	var recs []*history.Record
	for _, ref := range refs {
		rec, err := src.Find(ctx, ref, true)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	}
	// Finalized, so the bundle carries each build's trace.
	if recs, err = finalizeHistoryRecords(ctx, src, recs); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := history.Export(ctx, recs, &buf); err != nil {
		return err
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing build record %s: %w", path, err)
	}
	return nil
}
