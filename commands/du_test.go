package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
)

func TestParseCacheFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []string
		want    cacheQuery
		wantErr string
	}{
		{name: "none", in: nil, want: cacheQuery{}},
		{name: "id matches as a pattern", in: []string{"id=abc"}, want: cacheQuery{Filter: []string{`id~="abc"`}}},
		{name: "description exact", in: []string{"description=RUN echo a, b"}, want: cacheQuery{Filter: []string{`description=="RUN echo a, b"`}}},
		{name: "regexp quoted", in: []string{`description~=^\[1/2\] .*`}, want: cacheQuery{Filter: []string{`description~="^\\[1/2\\] .*"`}}},
		{name: "not equal", in: []string{"type!=exec.cachemount"}, want: cacheQuery{Filter: []string{`type!="exec.cachemount"`}}},
		{name: "all must match", in: []string{"type=regular", "private"}, want: cacheQuery{Filter: []string{`type=="regular",private`}}},
		{name: "property with empty value", in: []string{"inuse="}, want: cacheQuery{Filter: []string{"inuse"}}},
		{name: "key case and spaces", in: []string{" Type = regular "}, want: cacheQuery{Filter: []string{`type=="regular"`}}},
		{name: "parents", in: []string{"parents=a;b"}, want: cacheQuery{Filter: []string{`parents=="a;b"`}}},
		{name: "until", in: []string{"until=24h"}, want: cacheQuery{Until: 24 * time.Hour}},
		{name: "unused-for", in: []string{"unused-for=90m", "shared"}, want: cacheQuery{Filter: []string{"shared"}, Until: 90 * time.Minute}},
		{name: "no equals", in: []string{"id"}, wantErr: `invalid --filter "id": want id=VALUE`},
		{name: "unknown key", in: []string{"label=a"}, wantErr: `unknown key "label"`},
		{name: "bad duration", in: []string{"until=lots"}, wantErr: "want a duration such as 24h"},
		{name: "negative duration", in: []string{"until=-1h"}, wantErr: "want a duration"},
		{name: "until twice", in: []string{"until=1h", "unused-for=2h"}, wantErr: "until is given twice"},
		{name: "until not equal", in: []string{"until!=1h"}, wantErr: "until takes ="},
		{name: "bad regexp", in: []string{"description~=[a"}, wantErr: "error parsing regexp"},
		{name: "bad id pattern", in: []string{"id=a("}, wantErr: "error parsing regexp"},
		{name: "unknown type", in: []string{"type=layer"}, wantErr: `unknown record type "layer"`},
		{name: "property with value", in: []string{"shared=true"}, wantErr: "shared takes no value"},
		{name: "empty value", in: []string{"description="}, wantErr: "description needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseCacheFilters(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("parseCacheFilters(%q) = %v, %v; want one line with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got.Filter, tt.want.Filter) || got.Until != tt.want.Until {
				t.Errorf("parseCacheFilters(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "512mb", want: 512 << 20},
		{in: "2GB", want: 2 << 30},
		{in: "1.5g", want: 3 << 29},
		{in: "10k", want: 10 << 10},
		{in: "lots", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var b byteSize
			err := b.Set(tt.in)
			if (err != nil) != tt.wantErr || (err == nil && int64(b) != tt.want) {
				t.Errorf("byteSize.Set(%q) = %d, %v; want %d, error %t", tt.in, b, err, tt.want, tt.wantErr)
			}
		})
	}
}

// testRecords are two records as a daemon reports them, a mutable one in
// use and a shared one used an hour before testNow.
var (
	testNow     = time.Date(2025, 8, 1, 12, 0, 0, 0, time.UTC)
	hourBefore  = testNow.Add(-time.Hour)
	testRecords = []*bkclient.UsageInfo{
		{ID: "aaaaaaaaaaaaaaaaaaaaaaaaa", Mutable: true, InUse: true, Size: 4096, CreatedAt: hourBefore, RecordType: "source.local", Description: "local source for context"},
		{ID: "bbbbbbbbbbbbbbbbbbbbbbbbb", Shared: true, Size: 1653000000, CreatedAt: hourBefore, LastUsedAt: &hourBefore,
			UsageCount: 2, Parents: []string{"ccccccccccccccccccccccccc"}, RecordType: "regular", Description: "[base 2/2] RUN make"},
	}
)

func TestDuFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  string
		verbose bool
		want    string
		summary bool
	}{
		{name: "default table", format: "", summary: true, want: "" +
			"ID                           RECLAIMABLE   SIZE       LAST ACCESSED\n" +
			"aaaaaaaaaaaaaaaaaaaaaaaaa*   false         4.096kB    \n" +
			"bbbbbbbbbbbbbbbbbbbbbbbbb    true          1.653GB*   About an hour ago\n"},
		{name: "table keyword", format: "table", summary: true, want: "" +
			"ID                           RECLAIMABLE   SIZE       LAST ACCESSED\n" +
			"aaaaaaaaaaaaaaaaaaaaaaaaa*   false         4.096kB    \n" +
			"bbbbbbbbbbbbbbbbbbbbbbbbb    true          1.653GB*   About an hour ago\n"},
		{name: "table template with escaped tab", format: `table {{.ID}}\t{{.Type}}\t{{json .Parents}}`, want: "" +
			"ID                           TYPE           PARENTS\n" +
			"aaaaaaaaaaaaaaaaaaaaaaaaa*   source.local   null\n" +
			"bbbbbbbbbbbbbbbbbbbbbbbbb    regular        [\"ccccccccccccccccccccccccc\"]\n"},
		{name: "raw template without marks", format: "{{.ID}}: {{.Size}}", want: "" +
			"aaaaaaaaaaaaaaaaaaaaaaaaa: 4.096kB\n" +
			"bbbbbbbbbbbbbbbbbbbbbbbbb: 1.653GB\n"},
		{name: "pretty", verbose: true, summary: true, want: "" +
			"ID:           aaaaaaaaaaaaaaaaaaaaaaaaa\n" +
			"Created at:   2025-08-01 11:00:00 +0000 UTC\n" +
			"Mutable:      true\nReclaimable:  false\nShared:       false\nSize:         4.096kB\n" +
			"Description:  local source for context\nUsage count:  0\nType:         source.local\n\n" +
			"ID:           bbbbbbbbbbbbbbbbbbbbbbbbb\nParents:\n - ccccccccccccccccccccccccc\n" +
			"Created at:   2025-08-01 11:00:00 +0000 UTC\n" +
			"Mutable:      false\nReclaimable:  true\nShared:       true\nSize:         1.653GB\n" +
			"Description:  [base 2/2] RUN make\nUsage count:  2\nLast used:    About an hour ago\nType:         regular\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseDuFormat(tt.format, tt.verbose)
			if err != nil {
				t.Fatalf("parseDuFormat(%q, %t): %v", tt.format, tt.verbose, err)
			}
			var buf bytes.Buffer
			if err := f.write(&buf, testRecords, testNow); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tt.want || f.summary != tt.summary {
				t.Errorf("format %q wrote (summary %t):\n%s\nwant (summary %t):\n%s", tt.format, f.summary, buf.String(), tt.summary, tt.want)
			}
		})
	}
}

func TestDuFormatJSON(t *testing.T) {
	t.Parallel()
	f, err := parseDuFormat("json", false)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.write(&buf, testRecords, testNow); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		`{"CreatedAt":"2025-08-01T11:00:00Z","Description":"local source for context","ID":"aaaaaaaaaaaaaaaaaaaaaaaaa","LastUsedAt":"","Mutable":true,"Parents":[],"Reclaimable":false,"Shared":false,"Size":"4096","Type":"source.local","UsageCount":0}`,
		`{"CreatedAt":"2025-08-01T11:00:00Z","Description":"[base 2/2] RUN make","ID":"bbbbbbbbbbbbbbbbbbbbbbbbb","LastUsedAt":"2025-08-01T11:00:00Z","Mutable":false,"Parents":["ccccccccccccccccccccccccc"],"Reclaimable":true,"Shared":true,"Size":"1653000000","Type":"regular","UsageCount":2}`,
	}
	if !slices.Equal(lines, want) {
		t.Fatalf("json lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("line %s: %v", l, err)
		}
	}
}

func TestParseDuFormatErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		format  string
		verbose bool
		wantErr string
	}{
		{name: "verbose and format", format: "json", verbose: true, wantErr: "--format and --verbose cannot be used together"},
		{name: "unclosed", format: "{{.ID", wantErr: "invalid --format"},
		{name: "unknown placeholder", format: "table {{.Nope}}", wantErr: "can't evaluate field Nope"},
		{name: "unknown function", format: "{{nope .ID}}", wantErr: `function "nope" not defined`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseDuFormat(tt.format, tt.verbose)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("parseDuFormat(%q, %t) = %v; want one line with %q", tt.format, tt.verbose, err, tt.wantErr)
			}
		})
	}
}

func TestPrintDuSummary(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	printDuSummary(&buf, append(slices.Clone(testRecords), &bkclient.UsageInfo{ID: "unknown", Size: -1, Shared: true}))
	want := "Shared:         1.653GB\nPrivate:        4.096kB\nReclaimable:    1.653GB\nTotal:          1.653GB\n"
	if buf.String() != want {
		t.Errorf("printDuSummary wrote:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	printDuSummary(&buf, testRecords[:1])
	if want := "Reclaimable:    0B\nTotal:          4.096kB\n"; buf.String() != want {
		t.Errorf("printDuSummary without shared records wrote:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestAskYes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{in: "y\n", want: true},
		{in: "Y\n", want: true},
		{in: " yes \n", want: true},
		{in: "y", want: true},
		{in: "n\n", want: false},
		{in: "\n", want: false},
		{in: "", want: false},
		{in: "yeah\n", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			got, err := askYes(context.Background(), strings.NewReader(tt.in), &out, "Sure?")
			if err != nil || got != tt.want || out.String() != "Sure? [y/N] " {
				t.Errorf("askYes(%q) = %t, %v, printed %q; want %t, printed %q", tt.in, got, err, out.String(), tt.want, "Sure? [y/N] ")
			}
		})
	}
}

func TestPruneWarning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		all, filtered bool
		want          string
	}{
		{want: `WARNING! This removes all dangling build cache of builder "b". Do you want to go on?`},
		{all: true, want: `WARNING! This removes all build cache of builder "b", internal and frontend images included. Do you want to go on?`},
		{filtered: true, want: `WARNING! This removes the dangling build cache of builder "b" that matches the filters. Do you want to go on?`},
		{all: true, filtered: true, want: `WARNING! This removes the build cache of builder "b" that matches the filters, internal and frontend images included. Do you want to go on?`},
	}
	for _, tt := range tests {
		if got := pruneWarning("b", tt.all, tt.filtered); got != tt.want {
			t.Errorf("pruneWarning(b, %t, %t) = %q, want %q", tt.all, tt.filtered, got, tt.want)
		}
	}
}

func TestPrunePrinter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &prunePrinter{w: &buf, now: testNow}
	for _, u := range testRecords {
		p.add(*u)
	}
	want := "" +
		"ID                            RECLAIMABLE    SIZE          LAST ACCESSED\n" +
		"aaaaaaaaaaaaaaaaaaaaaaaaa*    false          4.096kB       \n" +
		"bbbbbbbbbbbbbbbbbbbbbbbbb     true           1.653GB*      About an hour ago\n"
	if buf.String() != want || p.total != 4096+1653000000 {
		t.Errorf("prune rows (total %d):\n%s\nwant (total %d):\n%s", p.total, buf.String(), 4096+1653000000, want)
	}
}

// Bad input ends the command before the builder is resolved: these runs
// have no driver registry, which resolving would need.
func TestDuPruneRejectBeforeDaemon(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		wantErr string
	}{
		{args: []string{"du", "--filter", "nope=1"}, wantErr: `unknown key "nope"`},
		{args: []string{"du", "--format", "{{.Nope}}"}, wantErr: "can't evaluate field Nope"},
		{args: []string{"du", "--verbose", "--format", "json"}, wantErr: "cannot be used together"},
		{args: []string{"prune", "--max-used-space=lots"}, wantErr: `invalid argument "lots" for "--max-used-space" flag`},
		{args: []string{"prune", "--min-free-space", "1zb"}, wantErr: "want a number of bytes"},
		{args: []string{"prune", "-f", "--filter", "until=soon"}, wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
				Getenv: getenvOf(map[string]string{"XBUILD_CONFIG": t.TempDir()})}
			root := NewRootCommand(env, "xbuild")
			root.SetArgs(tt.args)
			err := root.Execute()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("xbuild %s = %v; want one line with %q", strings.Join(tt.args, " "), err, tt.wantErr)
			}
		})
	}
}
