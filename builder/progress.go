package builder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/xbuild/xbuild/exporter"
	"github.com/xbuild/xbuild/internal/progressstep"
)

// progress adds xbuild's own steps (notes, loads) to the display that
// shows the solve, as vertexes of their own.
type progress struct {
	ch chan<- *bkclient.SolveStatus
}

var _ exporter.Progress = progress{}

// Step implements exporter.Progress.
func (p progress) Step(name string) exporter.Step {
	return progressstep.Start(p.ch, name, time.Now())
}

// note shows a message as a finished step of its own.
func (p progress) note(msg string) {
	s := p.Step(msg)
	s.Done(nil)
}

// display is one progress display, shared by every solve of a command or,
// grouping logs, by those of one job.
type display struct {
	ch   chan *bkclient.SolveStatus
	done chan struct{}
	// log holds a grouped job's display until the job ends; nil when the
	// display writes to the terminal.
	log *bytes.Buffer
	// warnings gathers the build checks' findings of every display of the
	// run, printed again once the displays are closed.
	warnings *warningLog
}

func progressOut(opts BuildOptions) io.Writer {
	if opts.Progress == nil {
		return os.Stderr
	}
	return opts.Progress
}

func startDisplay(ctx context.Context, inst *Instance, opts BuildOptions) (*display, error) {
	disp, err := progressui.NewDisplay(progressOut(opts), opts.ProgressMode, progressui.WithDesc(
		fmt.Sprintf("building with %q instance using %s driver", inst.Name, inst.Driver),
		fmt.Sprintf("%s:%s", inst.Driver, inst.Name)))
	if err != nil {
		return nil, err
	}
	d := &display{ch: make(chan *bkclient.SolveStatus), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		// The display drains its channel to the end, even after a cancel,
		// or the solves would block on it.
		_, _ = disp.UpdateFrom(context.WithoutCancel(ctx), d.ch)
	}()
	return d, nil
}

func (d *display) progress() progress { return progress{ch: d.ch} }

// forward returns the channel a solve sends its statuses to, each shown on
// the display and observed by sc when not nil, and a channel closed once
// the solve has closed the first and all it sent is shown.
func (d *display) forward(sc *statsCollector) (chan *bkclient.SolveStatus, <-chan struct{}) {
	statuses := make(chan *bkclient.SolveStatus)
	forwarded := make(chan struct{})
	go func() {
		defer close(forwarded)
		for s := range statuses {
			if sc != nil {
				sc.observe(s)
			}
			d.ch <- s
		}
	}()
	return statuses, forwarded
}

// close ends the display and waits until it has printed everything.
func (d *display) close() {
	close(d.ch)
	<-d.done
}

// warningLog is the build checks' findings of one run. The display drops
// a warning that arrives before its step, and a finding scrolls away in a
// long log, so they are printed again together at the end, as buildx does.
type warningLog struct {
	mu   sync.Mutex
	list []Warning
}

// add keeps ws, once each: every node of a job spread over several runs
// the same checks.
func (l *warningLog) add(ws []Warning) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range ws {
		if !slices.Contains(l.list, w) {
			l.list = append(l.list, w)
		}
	}
}

// print writes the findings in buildx's layout; quiet shows nothing and
// rawjson has them in its stream already.
func (l *warningLog) print(w io.Writer, mode progressui.DisplayMode) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) == 0 || mode == progressui.QuietMode || mode == progressui.RawJSONMode {
		return
	}
	found := "1 warning found"
	if len(l.list) > 1 {
		found = fmt.Sprintf("%d warnings found", len(l.list))
	}
	fmt.Fprintf(w, "\n %s (use docker --debug to expand):\n", found)
	for _, wa := range l.list {
		fmt.Fprintf(w, " - %s\n", wa.Title)
	}
}

// displays are the progress displays of one run: one for every job, or,
// grouping logs, one per job, printed whole between ::group:: lines when
// the job ends so concurrent jobs do not interleave.
type displays struct {
	out  io.Writer
	mode progressui.DisplayMode
	// warnings are every display's, printed by close.
	warnings *warningLog
	// shared is the one display of every job; nil when grouping.
	shared *display
	// printing keeps two jobs' groups apart.
	printing sync.Mutex
}

// startDisplays gives every runner its display.
func startDisplays(ctx context.Context, inst *Instance, runners []*runner, opts BuildOptions) (*displays, error) {
	ds := &displays{out: progressOut(opts), mode: opts.ProgressMode, warnings: &warningLog{}}
	if !opts.GroupLogs || len(runners) < 2 || opts.ProgressMode != progressui.PlainMode {
		d, err := startDisplay(ctx, inst, opts)
		if err != nil {
			return nil, err
		}
		d.warnings = ds.warnings
		ds.shared = d
		for _, rn := range runners {
			rn.disp = d
		}
		return ds, nil
	}
	for i, rn := range runners {
		o := opts
		log := &bytes.Buffer{}
		o.Progress = log
		d, err := startDisplay(ctx, inst, o)
		if err != nil {
			for _, started := range runners[:i] {
				started.disp.close()
			}
			return nil, err
		}
		d.log = log
		d.warnings = ds.warnings
		rn.disp = d
	}
	return ds, nil
}

// jobDone prints a grouped job's display, now complete.
func (ds *displays) jobDone(name string, d *display) {
	if ds.shared != nil {
		return
	}
	d.close()
	ds.printing.Lock()
	defer ds.printing.Unlock()
	fmt.Fprintf(ds.out, "::group::target %s\n%s::endgroup::\n", name, d.log)
}

// close ends the shared display once every job is done, then prints the
// run's warnings below everything the displays printed.
func (ds *displays) close() {
	if ds.shared != nil {
		ds.shared.close()
	}
	ds.warnings.print(ds.out, ds.mode)
}
