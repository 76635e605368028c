package commands

import (
	"fmt"
	"strings"

	"github.com/xbuild/xbuild/builder"
)

// checkPairs checks --build-arg and --label values as buildx does, in its
// words, which scripts match: a value with an empty key is refused. With
// bare, a KEY without "=" becomes KEY= (buildx gives such a label an
// empty value).
func checkPairs(values []string, bare bool) ([]string, error) {
	out := make([]string, len(values))
	for i, v := range values {
		k, _, ok := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid key-value pair %q: empty key", v)
		}
		if !ok && bare {
			v += "="
		}
		out[i] = v
	}
	return out, nil
}

// argsAndLabels reads --build-arg (a bare KEY from the environment, as
// buildx reads it) and --label, then SOURCE_DATE_EPOCH's build arg.
func (o *buildOptions) argsAndLabels(env *Env, s settings, req *builder.Request) error {
	if _, err := checkPairs(o.buildArgs, false); err != nil {
		return err
	}
	labels, err := checkPairs(o.labels, true)
	if err != nil {
		return err
	}
	if req.BuildArgs, err = parseKeyValues("--build-arg", o.buildArgs, env.Getenv); err != nil {
		return err
	}
	s.addSourceDateEpoch(req)
	req.Labels, err = parseKeyValues("--label", labels, nil)
	return err
}
