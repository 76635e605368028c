package history

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
)

// The values of the status filter, as BuildKit matches them.
const (
	filterRunning   = "running"
	filterCompleted = "completed"
	filterError     = "error"
	filterCanceled  = "canceled"
)

var filterStatuses = []string{filterRunning, filterCompleted, filterError, filterCanceled}

// Filters are parsed --filter values, all of which a record must match.
// BuildKit is asked to match them, and they are matched again here, for
// daemons that ignore filters.
type Filters struct {
	// terms are the filters in BuildKit's syntax (containerd filters,
	// "~=" for a match anywhere in the value).
	terms []string
	match []func(*controlapi.BuildHistoryRecord) bool
}

// filterOps are the operators a filter may use, longer ones first so that
// "<=" is not read as "<".
var filterOps = []string{"!=", "<=", ">=", "=", "<", ">"}

// ParseFilters reads buildx's --filter values: ref, repository and status
// with = or !=; startedAt, completedAt and duration with <, <=, > or >=.
func ParseFilters(in []string) (*Filters, error) {
	f := &Filters{}
	for _, s := range in {
		key, op, value, err := splitFilter(s)
		if err != nil {
			return nil, err
		}
		switch key {
		case "ref", "repository", "status":
			err = f.addValue(key, op, value)
		case "startedAt", "completedAt", "duration":
			err = f.addTime(key, op, value)
		default:
			err = fmt.Errorf("unknown key %q (use ref, repository, status, startedAt, completedAt or duration)", key)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid filter %q: %w", s, err)
		}
	}
	return f, nil
}

// splitFilter cuts a filter after its key, a run of letters, so that an
// operator inside the value is left alone.
func splitFilter(s string) (key, op, value string, err error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') })
	if i <= 0 {
		return "", "", "", fmt.Errorf("invalid filter %q: want KEY=VALUE, e.g. status=error", s)
	}
	for _, o := range filterOps {
		if v, ok := strings.CutPrefix(s[i:], o); ok {
			return s[:i], o, v, nil
		}
	}
	return "", "", "", fmt.Errorf("invalid filter %q: want KEY=VALUE, e.g. status=error", s)
}

func (f *Filters) addValue(key, op, value string) error {
	if op != "=" && op != "!=" {
		return fmt.Errorf("%s takes = or !=", key)
	}
	if key == "status" && !slices.Contains(filterStatuses, value) {
		return fmt.Errorf("status is one of %s", strings.Join(filterStatuses, ", "))
	}
	bkOp := op
	switch {
	case op == "=" && key == "status":
		bkOp = "=="
	case op == "=":
		// Like buildx: ref and repository match anywhere in the value.
		bkOp = "~="
	}
	f.terms = append(f.terms, key+bkOp+value)
	f.match = append(f.match, func(rec *controlapi.BuildHistoryRecord) bool {
		got := recordValue(rec, key)
		switch {
		case op == "!=":
			return got != value
		case key == "status":
			return got == value
		default:
			return strings.Contains(got, value)
		}
	})
	return nil
}

// recordValue is the value of a record a ref, repository or status filter
// looks at, as BuildKit reads it.
func recordValue(rec *controlapi.BuildHistoryRecord, key string) string {
	switch key {
	case "ref":
		return rec.Ref
	case "repository":
		if v, ok := rec.FrontendAttrs["vcs:source"]; ok {
			return v
		}
		if c, ok := rec.FrontendAttrs["context"]; ok {
			if ref, _, err := dfgitutil.ParseGitRef(c); err == nil {
				return ref.Remote
			}
		}
		return ""
	}
	switch {
	case rec.CompletedAt == nil:
		return filterRunning
	case rec.Error == nil:
		return filterCompleted
	case strings.Contains(rec.Error.Message, "context canceled"):
		return filterCanceled
	default:
		return filterError
	}
}

func (f *Filters) addTime(key, op, value string) error {
	if op == "=" || op == "!=" {
		return fmt.Errorf("%s takes <, <=, > or >=", key)
	}
	var want int64
	if key == "duration" {
		d, err := time.ParseDuration(value)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 30s or 2m", value)
		}
		want = int64(d)
	} else if d, err := time.ParseDuration(value); err == nil {
		want = time.Now().Add(-d).Unix()
	} else if t, err := time.Parse(time.RFC3339, value); err == nil {
		want = t.Unix()
	} else {
		return fmt.Errorf("%q is neither a time like 2025-01-02T15:04:05Z nor a duration ago like 24h", value)
	}
	f.terms = append(f.terms, key+op+value)
	f.match = append(f.match, func(rec *controlapi.BuildHistoryRecord) bool {
		return compare(timeValue(rec, key), op, want)
	})
	return nil
}

// timeValue is what a time filter compares: seconds since the epoch for
// startedAt and completedAt, nanoseconds for duration; 0 for a running
// build's completion, as in BuildKit.
func timeValue(rec *controlapi.BuildHistoryRecord, key string) int64 {
	switch {
	case key == "startedAt":
		return rec.CreatedAt.AsTime().Unix()
	case rec.CompletedAt == nil:
		return 0
	case key == "completedAt":
		return rec.CompletedAt.AsTime().Unix()
	default:
		return int64(rec.CompletedAt.AsTime().Sub(rec.CreatedAt.AsTime()))
	}
}

func compare(got int64, op string, want int64) bool {
	switch op {
	case ">":
		return got > want
	case ">=":
		return got >= want
	case "<=":
		return got <= want
	default:
		return got < want
	}
}

// refFilter matches the record of one build ID exactly. BuildKit sends
// running builds whatever the filter, so the match here is what counts
// for them.
func refFilter(id string) *Filters {
	return &Filters{
		terms: []string{"ref==" + id},
		match: []func(*controlapi.BuildHistoryRecord) bool{func(rec *controlapi.BuildHistoryRecord) bool { return rec.Ref == id }},
	}
}

// request is the filter BuildKit is sent: the fields of one CSV line,
// which it requires all to match.
func (f *Filters) request() []string {
	if f == nil || len(f.terms) == 0 {
		return nil
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(f.terms) // a bytes.Buffer does not fail
	w.Flush()
	return []string{strings.TrimSuffix(b.String(), "\n")}
}

// Match reports whether rec matches every filter.
func (f *Filters) Match(rec *controlapi.BuildHistoryRecord) bool {
	if f == nil {
		return true
	}
	for _, m := range f.match {
		if !m(rec) {
			return false
		}
	}
	return true
}
