package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// recorder collects the latency and outcome of every request of a phase,
// by operation ("step1", "GET /", …). It keeps every sample: a phase makes
// at most some tens of thousands of requests.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	end   time.Time
	ops   map[string]*opStats
}

type opStats struct {
	lat    []time.Duration
	errs   int // wrong answer (status or content), transport errors included
	s5xx   int // status 500 and more
	errMsg map[string]int
}

func newRecorder() *recorder { return &recorder{ops: map[string]*opStats{}} }

func (r *recorder) op(name string) *opStats {
	o := r.ops[name]
	if o == nil {
		o = &opStats{errMsg: map[string]int{}}
		r.ops[name] = o
	}
	return o
}

// ok records a request that got the answer it expected.
func (r *recorder) ok(name string, d time.Duration) {
	r.mu.Lock()
	r.op(name).lat = append(r.op(name).lat, d)
	r.mu.Unlock()
}

// fail records a request that did not; status is 0 for a transport error.
func (r *recorder) fail(name string, d time.Duration, status int, why string) {
	r.mu.Lock()
	o := r.op(name)
	o.errs++
	if status >= 500 {
		o.s5xx++
	}
	if len(why) > 120 {
		why = why[:120]
	}
	o.errMsg[why]++
	r.mu.Unlock()
}

func (r *recorder) begin() { r.mu.Lock(); r.start = time.Now(); r.mu.Unlock() }
func (r *recorder) stop()  { r.mu.Lock(); r.end = time.Now(); r.mu.Unlock() }

// summary is what the tables print for one operation.
type summary struct {
	Name          string
	N, Errs, S5xx int
	Rate          float64 // successful requests per second of the phase
	P50, P99, Max time.Duration
	TopErr        string
}

func (r *recorder) summary(name string) summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.ops[name]
	if o == nil {
		return summary{Name: name}
	}
	s := summary{Name: name, N: len(o.lat), Errs: o.errs, S5xx: o.s5xx}
	if el := r.end.Sub(r.start).Seconds(); el > 0 {
		s.Rate = float64(len(o.lat)) / el
	}
	s.P50, s.P99, s.Max = percentiles(o.lat)
	best := 0
	for m, n := range o.errMsg {
		if n > best {
			best, s.TopErr = n, fmt.Sprintf("%d× %s", n, m)
		}
	}
	return s
}

// merged summarises several operations together (e.g. every non-hashing
// request of the mixed load).
func (r *recorder) merged(label string, names ...string) summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := summary{Name: label}
	var all []time.Duration
	for _, n := range names {
		if o := r.ops[n]; o != nil {
			all = append(all, o.lat...)
			s.Errs += o.errs
			s.S5xx += o.s5xx
		}
	}
	s.N = len(all)
	if el := r.end.Sub(r.start).Seconds(); el > 0 {
		s.Rate = float64(len(all)) / el
	}
	s.P50, s.P99, s.Max = percentiles(all)
	return s
}

func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n []string
	for k := range r.ops {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (r *recorder) total5xx() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.ops {
		n += o.s5xx
	}
	return n
}

func percentiles(d []time.Duration) (p50, p99, top time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return at(0.50), at(0.99), s[len(s)-1]
}

// median of several runs' values.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// table prints rows as a Markdown table with aligned columns.
func table(header []string, rows [][]string) string {
	w := make([]int, len(header))
	for i, h := range header {
		w[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + c + strings.Repeat(" ", w[i]-len([]rune(c))) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
