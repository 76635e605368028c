package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/buildkit/identity"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// appendGitHubFile adds name=value to one of the runner's files
// (GITHUB_OUTPUT, GITHUB_STATE), with a heredoc for multi-line values.
func appendGitHubFile(env *Env, file, name, value string) error {
	path := env.Getenv(file)
	if path == "" {
		return fmt.Errorf("%s is not set: run this as a GitHub Actions step", file)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if strings.Contains(value, "\n") {
		delim := "xbuild_" + identity.NewID()
		_, err = fmt.Fprintf(f, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	} else {
		_, err = fmt.Fprintf(f, "%s=%s\n", name, value)
	}
	return err
}

// writeActionResults writes the step's outputs, prints each job's log
// group and annotations, and appends the job summary.
func writeActionResults(env *Env, jobs []*builder.Job, results map[string]*builder.Result, bakeMode bool, inputs map[string]string) error {
	outs, err := actionOutputs(results, bakeMode)
	if err != nil {
		return err
	}
	for _, o := range outs {
		if err := appendGitHubFile(env, "GITHUB_OUTPUT", o.name, o.value); err != nil {
			return err
		}
	}
	fmt.Fprint(env.Stdout, jobLogs(jobs, results, actionSwitch(env, "DOCKER_BUILD_CHECKS_ANNOTATIONS")))
	if path := env.Getenv("GITHUB_STEP_SUMMARY"); path != "" && actionSwitch(env, "DOCKER_BUILD_SUMMARY") {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.WriteString(summaryMarkdown(jobs, results, inputs))
		return err
	}
	return nil
}

type actionOutput struct{ name, value string }

// actionOutputs are the step's outputs as build-push-action and
// bake-action name them: imageid and digest for a build, and metadata
// (keyed by target for bake).
func actionOutputs(results map[string]*builder.Result, bakeMode bool) ([]actionOutput, error) {
	var outs []actionOutput
	var metadata any
	if bakeMode {
		md := map[string]any{}
		for n, r := range results {
			md[n] = r.Metadata
		}
		metadata = md
	} else {
		res := results["default"]
		if res == nil {
			return nil, errors.New("the build produced no result")
		}
		metadata = res.Metadata
		digest, _ := res.Metadata[exporter.KeyDigest].(string)
		outs = append(outs, actionOutput{"imageid", res.ImageID}, actionOutput{"digest", digest})
	}
	dt, err := json.MarshalIndent(metadata, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(outs, actionOutput{"metadata", string(dt)}), nil
}

// jobLogs folds each job's metadata into a log group and, with annotate,
// places its build check findings as annotations.
func jobLogs(jobs []*builder.Job, results map[string]*builder.Result, annotate bool) string {
	var b strings.Builder
	for _, j := range jobs {
		res := results[j.Name]
		if res == nil {
			continue
		}
		fmt.Fprintf(&b, "::group::%s\n", j.Name)
		keys := make([]string, 0, len(res.Metadata))
		for k := range res.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if s, ok := res.Metadata[k].(string); ok {
				fmt.Fprintf(&b, "%s: %s\n", k, s)
			}
		}
		b.WriteString("::endgroup::\n")
		for _, w := range res.Stats.Warnings {
			if annotate {
				b.WriteString(annotation(j.Req, w) + "\n")
			}
		}
	}
	return b.String()
}

// annotation places a build check finding on its Dockerfile line.
func annotation(req *builder.Request, w builder.Warning) string {
	file := w.File
	if req.Dockerfile != "" && req.Dockerfile != "-" && filepath.Base(req.Dockerfile) == filepath.Base(file) {
		file = req.Dockerfile
	} else if req.Dockerfile == "" && file != "" && !builder.IsRemoteContext(req.Context) {
		file = filepath.Join(req.Context, file)
	}
	esc := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	prop := strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
	return fmt.Sprintf("::warning file=%s,line=%d,title=%s::%s", prop.Replace(filepath.ToSlash(file)), w.Line, prop.Replace(w.Title), esc.Replace(w.Message))
}

func summaryMarkdown(jobs []*builder.Job, results map[string]*builder.Result, inputs map[string]string) string {
	var b strings.Builder
	b.WriteString("## Build summary\n\n")
	b.WriteString("| Target | Platforms | Tags | Digest | Attestations | Cached | Duration |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, j := range jobs {
		res := results[j.Name]
		if res == nil {
			continue
		}
		var plats []string
		for _, p := range j.Req.Platforms {
			plats = append(plats, builder.FormatPlatform(p))
		}
		if len(plats) == 0 {
			plats = []string{"(builder's)"}
		}
		digest, _ := res.Metadata[exporter.KeyDigest].(string)
		var attests []string
		for typ, params := range res.Attestations {
			attests = append(attests, strings.TrimSuffix(typ+" "+params, " "))
		}
		sort.Strings(attests)
		if len(attests) == 0 {
			attests = []string{"none"}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` | %s | %d/%d | %.1fs |\n", j.Name, strings.Join(plats, ", "),
			strings.Join(j.Req.Tags, ", "), digest, strings.Join(attests, ", "),
			res.Stats.CachedSteps, res.Stats.Steps, res.Stats.Duration.Seconds())
	}
	b.WriteString("\nAn image with attestations or several platforms is an image index, not a single manifest.\n")
	b.WriteString("\n<details><summary>Build inputs</summary>\n\n")
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if inputs[k] != "" {
			fmt.Fprintf(&b, "- %s: `%s`\n", k, inputs[k])
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}
