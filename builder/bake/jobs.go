package bake

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xbuild/xbuild/builder"
	"github.com/xbuild/xbuild/exporter"
)

// ParseJobs reads a --jobs value the way buildx does: N (parallel=N),
// a mode (fail-fast, defer-error, defer-output), mode=MODE, parallel=N,
// or a mode and a limit separated by a comma. Empty is fail-fast without
// a limit.
func ParseJobs(value string) (builder.Execution, error) {
	ex := builder.Execution{Mode: builder.ExecutionFailFast}
	value = strings.TrimSpace(value)
	if value == "" {
		return ex, nil
	}
	if _, err := strconv.Atoi(value); err == nil {
		value = "parallel=" + value
	}
	fields, err := exporter.CSVFields(value)
	if err != nil {
		return builder.Execution{}, fmt.Errorf("invalid --jobs %q: %w", value, err)
	}
	seen := map[string]bool{}
	for _, f := range fields {
		key, val, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			key, val = "mode", key
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(val)
		if seen[key] {
			return builder.Execution{}, fmt.Errorf("invalid --jobs %q: %s given twice", value, key)
		}
		seen[key] = true
		switch key {
		case "mode":
			switch m := builder.ExecutionMode(val); m {
			case builder.ExecutionFailFast, builder.ExecutionDeferError, builder.ExecutionDeferOutput:
				ex.Mode = m
			default:
				return builder.Execution{}, fmt.Errorf("invalid --jobs mode %q: use fail-fast, defer-error or defer-output", val)
			}
		case "parallel":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return builder.Execution{}, fmt.Errorf("invalid --jobs parallel value %q: use a non-negative integer (0 is no limit)", val)
			}
			ex.Parallel = n
		default:
			return builder.Execution{}, fmt.Errorf("invalid --jobs %q: unknown option %q; use N or mode[,parallel=N]", value, key)
		}
	}
	return ex, nil
}
