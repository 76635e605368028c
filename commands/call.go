package commands

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	bxbake "github.com/docker/buildx/bake"
	"github.com/docker/buildx/util/buildflags"
	"github.com/docker/buildx/util/cobrautil"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/frontend/subrequests"
	"github.com/moby/buildkit/frontend/subrequests/lint"
	"github.com/moby/buildkit/frontend/subrequests/outline"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/pb"
	"github.com/moby/moby/client/pkg/versions"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/builder/bake"
)

// parseCall reads --call with buildx's parser and xbuild's checks.
func parseCall(flag, v string) (*buildflags.CallFunc, error) {
	cf, err := builder.ParseCall(v)
	if err != nil {
		return nil, fmt.Errorf("invalid %s %q: %w", flag, v, err)
	}
	return cf, nil
}

// callAlias is a bool flag (--check) that sets the --call value to name.
func callAlias(to *string, name string) cobrautil.BoolFuncValue {
	return func(s string) error {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		if on {
			*to = name
		}
		return nil
	}
}

// callExit is printCall's outcome as the command's error: err, else an
// exit with code and no message of its own, as buildx ends a check that
// found something.
func callExit(code int, err error) error {
	if err != nil {
		return err
	}
	if code == 0 {
		return nil
	}
	return cobrautil.ExitCodeError(code)
}

// dockerfileShown is the Dockerfile's name as the user gave it, for the
// check's findings; empty keeps the frontend's own name.
func dockerfileShown(req *builder.Request) string {
	switch {
	case req.Dockerfile == "-" || builder.IsRemoteContext(req.Context):
		return ""
	case req.Dockerfile != "":
		return req.Dockerfile
	case req.Context == "-":
		return ""
	}
	return filepath.Join(req.Context, "Dockerfile")
}

// printCall prints a frontend method's answer as buildx does: JSON as the
// frontend sent it with format=json, else the method's text. It returns the
// exit code the answer carries (unless ignorestatus), and an error holding
// the check's build error, printed like its findings.
func printCall(w io.Writer, cf *buildflags.CallFunc, res map[string]string, dockerfile string) (int, error) {
	var err error
	switch cf.Name {
	case "outline":
		err = printCallValue(w, outline.PrintOutline, outline.SubrequestsOutlineDefinition.Version, cf.Format, res)
	case "targets":
		err = printCallValue(w, targets.PrintTargets, targets.SubrequestsTargetsDefinition.Version, cf.Format, res)
	case "subrequests.describe":
		err = printCallValue(w, subrequests.PrintDescribe, subrequests.SubrequestsDescribeDefinition.Version, cf.Format, res)
	case "lint":
		err = printCheck(w, cf.Format, res, dockerfile)
	default:
		switch dt, ok := res["result.json"]; {
		case ok && cf.Format == "json":
			fmt.Fprintln(w, dt)
		case res["result.txt"] != "":
			fmt.Fprint(w, res["result.txt"])
		default:
			fmt.Fprintf(w, "%s %+v\n", cf, res)
		}
	}
	if err != nil {
		return 0, err
	}
	if v, ok := res["result.statuscode"]; ok && !cf.IgnoreStatus {
		if n, err := strconv.Atoi(v); err == nil && n != 0 {
			return n, nil
		}
	}
	return 0, nil
}

// printCheck prints the check's findings, a count line before them, and
// returns the build error the check hit (check=error=true among them).
func printCheck(w io.Writer, format string, res map[string]string, dockerfile string) error {
	var results lint.LintResults
	if dt, ok := res["result.json"]; ok {
		if err := json.Unmarshal([]byte(dt), &results); err != nil {
			return fmt.Errorf("reading the check's result: %w", err)
		}
	}
	n := len(results.Warnings)
	if format != "json" && n > 0 {
		found := "1 warning has been found!"
		if n > 1 {
			found = fmt.Sprintf("%d warnings have been found!", n)
		}
		fmt.Fprintf(w, "Check complete, %s\n", found)
	}
	rename := func(si *pb.SourceInfo) *pb.SourceInfo {
		if si == nil || dockerfile == "" {
			return si
		}
		si = proto.Clone(si).(*pb.SourceInfo)
		si.Filename = dockerfile
		return si
	}
	show := func(_ []byte, w io.Writer) error { return results.PrintTo(w, rename) }
	if err := printCallValue(w, show, lint.SubrequestLintDefinition.Version, format, res); err != nil {
		return err
	}
	switch {
	case results.Error != nil:
		if format != "json" && n > 0 {
			fmt.Fprintln(w)
		}
		var buf bytes.Buffer
		results.PrintErrorTo(&buf, rename)
		return errors.New(buf.String())
	case n == 0 && format != "json":
		fmt.Fprintln(w, "Check complete, no warnings found.")
	}
	return nil
}

// printCallValue prints an answer with show, or as the frontend's own
// text when its version is newer than the one print knows.
func printCallValue(w io.Writer, show func([]byte, io.Writer) error, version, format string, res map[string]string) error {
	if format == "json" {
		fmt.Fprintln(w, res["result.json"])
		return nil
	}
	if res["version"] != "" && versions.LessThan(version, res["version"]) && res["result.txt"] != "" {
		fmt.Fprint(w, res["result.txt"])
		return nil
	}
	return show([]byte(res["result.json"]), w)
}

// addCallFlags adds --call and its shorthand --check.
func addCallFlags(f *pflag.FlagSet, to *string) {
	f.StringVar(to, "call", "build", `Set method for evaluating build ("check", "outline", "targets")`)
	f.VarPF(callAlias(to, "check"), "check", "", `Shorthand for "--call=check"`)
	f.Lookup("check").NoOptDefVal = "true"
}

// addCall sets the request's frontend method and, for a build, whether
// the metadata file gets the build checks' findings.
func addCall(env *Env, req *builder.Request, call string) error {
	var err error
	if req.Call, err = parseCall("--call", call); err != nil {
		return err
	}
	if req.Call != nil {
		req.DropForCall()
		return nil
	}
	req.MetadataWarnings, err = metadataWarnings(env.Getenv)
	return err
}

// metadataWarnings reads XBUILD_METADATA_WARNINGS (buildx's
// BUILDX_METADATA_WARNINGS): whether the metadata file gets the build
// checks' findings; off when unset.
func metadataWarnings(getenv func(string) string) (bool, error) {
	return envBool(getenv, false, "XBUILD_METADATA_WARNINGS", "BUILDX_METADATA_WARNINGS")
}

// printBakeCalls prints the answers of the targets that ran a frontend
// method, as buildx's bake does: each under its name and description, or,
// when --call asks for format=json, every target in one object with its
// definition ("build") and its answer. --call's format and ignorestatus
// win over the targets'. It returns the first non-zero exit code.
func printBakeCalls(w io.Writer, def *bake.Definition, jobs []*builder.Job, results map[string]*builder.Result, flag *buildflags.CallFunc) (int, error) {
	asJSON := flag != nil && flag.Format == "json"
	answers := map[string]map[string]any{}
	code, sep := 0, false
	for _, j := range jobs {
		if j.Req.Call == nil {
			continue
		}
		cf := *j.Req.Call
		if flag != nil {
			cf.Format, cf.IgnoreStatus = flag.Format, flag.IgnoreStatus
		}
		var res map[string]string
		if r := results[j.Name]; r != nil {
			res = r.Call
		}
		out := w
		var buf bytes.Buffer
		if asJSON {
			out = &buf
		} else {
			if sep {
				fmt.Fprintln(w)
			}
			sep = true
			fmt.Fprintln(w, j.Name)
			if t := def.Target[j.Name]; t != nil && t.Description != "" {
				fmt.Fprintln(w, t.Description)
			}
			fmt.Fprintln(w)
		}
		c, err := printCall(out, &cf, res, dockerfileShown(j.Req))
		switch {
		case err != nil:
			code = 1
			if !asJSON {
				fmt.Fprintf(w, "error: %v\n", err)
			}
		case c != 0 && code == 0:
			code = c
		}
		if asJSON {
			answers[j.Name] = jsonAnswer(cf.Name, buf.Bytes(), err)
		}
	}
	if !asJSON {
		return code, nil
	}
	return code, printBakeCallsJSON(w, def, jobs, answers)
}

// jsonAnswer is one target's answer in bake's JSON: the fields of the
// method's JSON, or the whole under the method's name when it is not an
// object, and the error, if any.
func jsonAnswer(name string, dt []byte, err error) map[string]any {
	out := map[string]any{}
	if err != nil {
		out["error"] = err.Error()
	}
	var fields map[string]*json.RawMessage
	if json.Unmarshal(dt, &fields) == nil {
		for k, v := range fields {
			out[k] = v
		}
	} else {
		out[name] = json.RawMessage(dt)
	}
	return out
}

func printBakeCallsJSON(w io.Writer, def *bake.Definition, jobs []*builder.Job, answers map[string]map[string]any) error {
	out := struct {
		Group  map[string]*bxbake.Group  `json:"group,omitempty"`
		Target map[string]map[string]any `json:"target"`
	}{Group: def.Group, Target: map[string]map[string]any{}}
	calls := map[string]string{}
	for _, j := range jobs {
		if j.Req.Call != nil {
			calls[j.Name] = j.Req.Call.Name
		}
	}
	for name, t := range def.Target {
		out.Target[name] = map[string]any{"build": t}
		if a, ok := answers[name]; ok {
			key := calls[name]
			if key == "lint" {
				key = "check"
			}
			out.Target[name][key] = a
		}
	}
	dt, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(dt))
	return err
}

// bakeWarnings are every target's build check findings, for the metadata
// file when XBUILD_METADATA_WARNINGS is on and --call asks for no method.
func bakeWarnings(getenv func(string) string, flag *buildflags.CallFunc, jobs []*builder.Job, results map[string]*builder.Result) ([]bkclient.VertexWarning, error) {
	on, err := metadataWarnings(getenv)
	if err != nil || !on || flag != nil {
		return nil, err
	}
	var out []bkclient.VertexWarning
	for _, j := range jobs {
		if r := results[j.Name]; r != nil {
			out = append(out, r.Stats.VertexWarnings...)
		}
	}
	return out, nil
}
