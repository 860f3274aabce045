package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sesame-edu/sesame/server/school"
)

// The server has no pprof endpoint, and the bench may not edit it. With
// -profile, a second binary is built from the same sources plus one file
// given to the compiler through `go build -overlay` (nothing is written in
// the repository): when SESAME_BENCH_PPROF names an address, it serves
// /start and /stop (a CPU profile of just a phase) and /heap and /memstats.
// The measured figures always come from the plain binary.
const pprofOverlay = `package main

import (
	"encoding/json"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
)

func init() {
	addr := os.Getenv("SESAME_BENCH_PPROF")
	if addr == "" {
		return
	}
	var f *os.File
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		var err error
		if f, err = os.Create(r.URL.Query().Get("file")); err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/stop", func(w http.ResponseWriter, r *http.Request) {
		pprof.StopCPUProfile()
		f.Close()
	})
	mux.HandleFunc("/heap", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		h, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			err = pprof.Lookup("heap").WriteTo(h, 0)
			h.Close()
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/goroutine", func(w http.ResponseWriter, r *http.Request) {
		g, err := os.Create(r.URL.Query().Get("file"))
		if err == nil {
			err = pprof.Lookup("goroutine").WriteTo(g, 0)
			g.Close()
		}
		if err == nil {
			if t, err2 := os.Create(r.URL.Query().Get("file") + ".txt"); err2 == nil {
				pprof.Lookup("goroutine").WriteTo(t, 1)
				t.Close()
			}
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/memstats", func(w http.ResponseWriter, r *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		json.NewEncoder(w).Encode(map[string]uint64{
			"HeapInuse": m.HeapInuse, "HeapIdle": m.HeapIdle, "HeapReleased": m.HeapReleased,
			"StackInuse": m.StackInuse, "Sys": m.Sys, "NumGC": uint64(m.NumGC),
			"Goroutines": uint64(runtime.NumGoroutine()), "TotalAlloc": m.TotalAlloc,
		})
	})
	go http.ListenAndServe(addr, mux)
}
`

// buildProfiling builds the profiling variant of the server into out.
func buildProfiling(repo, tmp, out string) error {
	src := filepath.Join(tmp, "zz_bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
		return err
	}
	ov, err := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(repo, "zz_bench_pprof.go"): src}})
	if err != nil {
		return err
	}
	ovPath := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-overlay", ovPath, "-o", out, ".")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// profiler drives the overlay's endpoints.
type profiler struct{ base string }

func (p profiler) call(path string, q url.Values) (string, error) {
	resp, err := http.Get(p.base + path + "?" + q.Encode())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("%s: %s", path, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

func (p profiler) start(file string) error {
	_, err := p.call("/start", url.Values{"file": {file}})
	return err
}

func (p profiler) stop() error { _, err := p.call("/stop", nil); return err }

// top renders the heaviest functions of a profile with go tool pprof.
func top(binary, prof string, n int, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}, extra...)
	args = append(args, binary, prof)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)\n%s", err, out)
	}
	return string(out)
}

// runProfile runs the step phases against the profiling build, with a CPU
// profile of each step, then a mixed load with a CPU profile, and a heap
// profile and memory statistics at its middle. Profiles go to dir; the
// heaviest functions are returned for the report.
func runProfile(o benchOptions, repo, tmp, dir, config, tpl string, sd *schoolData, sc *school.Config, sk *sink, direct bool) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sesame-pprof")
	logf("profile: building the profiling variant (go build -overlay)…")
	if err := buildProfiling(repo, tmp, bin); err != nil {
		return "", err
	}
	var b strings.Builder
	var gmu sync.Mutex
	var goroutines []string
	var memDone chan struct{}
	var memMax memSample
	fmt.Fprintf(&b, "\n### Profiles (profiling build, %s)\n", dir)
	with := func(label string, run func(sv *server, hook func(string, bool)) error) error {
		data := filepath.Join(tmp, "data-profile-"+label)
		if err := copyDir(tpl, data); err != nil {
			return err
		}
		defer os.RemoveAll(data)
		port, err := freePort()
		if err != nil {
			return err
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		sv, err := startServer(bin, data, config, sk.URL.String(), o.logLevel, filepath.Join(dir, "server-"+label+".log"), "SESAME_BENCH_PPROF="+addr)
		if err != nil {
			return err
		}
		defer sv.Stop()
		p := profiler{base: "http://" + addr}
		if !waitFor(5*time.Second, func() bool { _, err := p.call("/memstats", nil); return err == nil }) {
			return fmt.Errorf("profiling endpoint did not answer")
		}
		hook := func(name string, begin bool) {
			file := filepath.Join(dir, "cpu-"+name+".pprof")
			var err error
			switch {
			case name == "mixed-middle":
				heap := filepath.Join(dir, "heap-mixed.pprof")
				if _, err = p.call("/heap", url.Values{"file": {heap}}); err == nil {
					var ms string
					if ms, err = p.call("/memstats", nil); err == nil {
						rss, hwm := memory(sv.Pid())
						fmt.Fprintf(&b, "\nMemory at the middle of the mixed load: VmRSS %.1f MB, VmHWM %.1f MB; Go runtime: %s\n",
							float64(rss)/1024, float64(hwm)/1024, strings.TrimSpace(ms))
						fmt.Fprintf(&b, "\nLive heap after a GC:\n\n```\n%s```\n", top(bin, heap, 15, "-sample_index=inuse_space"))
						fmt.Fprintf(&b, "\nAllocated since start (what the GC has to keep up with):\n\n```\n%s```\n", top(bin, heap, 15, "-sample_index=alloc_space"))
					}
				}
			case begin:
				err = p.start(file)
				if name == "mixed" {
					memDone = make(chan struct{})
					go sampleMem(p, sv.Pid(), memDone, &memMax)
				}
				// Where the goroutines wait: three snapshots, 1, 2 and 3 s
				// into the phase, summed.
				go func() {
					counts := map[string]int{}
					taken := 0
					for i := 1; i <= 3; i++ {
						time.Sleep(time.Second)
						g := filepath.Join(dir, fmt.Sprintf("goroutines-%s-%d.pprof", name, i))
						if _, err := p.call("/goroutine", url.Values{"file": {g}}); err == nil && waitCounts(g+".txt", counts) == nil {
							taken++
						}
					}
					gmu.Lock()
					goroutines = append(goroutines, fmt.Sprintf("\nGoroutines of requests, of the store and of background work, %d snapshots 1 s apart from the start of %s, summed (%s):\n\n%s",
						taken, name, filepath.Join(dir, "goroutines-"+name+"-*.pprof.txt"), waitTable(counts)))
					gmu.Unlock()
				}()
			default:
				if name == "mixed" && memDone != nil {
					memDone <- struct{}{}
					<-memDone
					m := memMax
					fmt.Fprintf(&b, "\nMemory at the highest VmRSS sampled every 250 ms during the mixed load: VmRSS %.1f MB = Go runtime resident %.1f MB (heap in use %.1f MB, heap idle not returned %.1f MB, stacks %.1f MB, other runtime %.1f MB) + outside the Go runtime %.1f MB (SQLite page caches and allocations of modernc.org/libc, binary text); %d goroutines.\n",
						mb(m.RSS*1024), mb(m.GoResident), mb(m.HeapInuse), mb(m.HeapIdle-m.HeapReleased), mb(m.StackInuse), mb(m.GoResident-m.HeapInuse-(m.HeapIdle-m.HeapReleased)-m.StackInuse),
						mb(uint64(m.RSS*1024)-m.GoResident), m.Goroutines)
				}
				if err = p.stop(); err == nil {
					fmt.Fprintf(&b, "\nCPU, %s (%s):\n\n```\n%s```\n", name, file, top(bin, file, 30))
					fmt.Fprintf(&b, "\nCPU, %s, cumulative:\n\n```\n%s```\n", name, top(bin, file, 40, "-cum"))
				}
			}
			if err != nil {
				logf("profile %s: %v", name, err)
			}
		}
		return run(sv, hook)
	}
	err := with("steps", func(sv *server, hook func(string, bool)) error {
		logf("profile: steps 1, 2, 3…")
		_, err := runSteps(sv, sk, sd, sc, newAllocator(sd, direct), o.concurrency, o.stepDuration, o.mailWait, true, hook)
		return err
	})
	if err != nil {
		return b.String(), err
	}
	err = with("mixed", func(sv *server, hook func(string, bool)) error {
		logf("profile: mixed load…")
		runMixed(sv, sk, sd, sc, newAllocator(sd, direct), o.clients, min(o.mixedDuration, 30*time.Second), o.think, o.mailTimeout, 0, hook)
		return nil
	})
	gmu.Lock()
	b.WriteString(strings.Join(goroutines, ""))
	gmu.Unlock()
	return b.String(), err
}

// waitCounts classifies the goroutines of a debug=1 goroutine profile by
// what they wait for, keeping those that serve requests, the embedded
// store's connections and Sésame's background workers. Goroutines waiting
// for the store are named by the Sésame functions on their stack.
func waitCounts(path string, counts map[string]int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, block := range strings.Split(string(b), "\n\n") {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(block), "%d @", &n); err != nil || n == 0 {
			continue
		}
		op := ""
		if i := strings.Index(block, "handler.(*Handler).Msg"); i >= 0 {
			op = block[i+len("handler.(*Handler)."):]
			op = " (" + op[:strings.IndexAny(op, "+ \t")] + ")"
		}
		var sesame []string
		for _, l := range strings.Split(block, "\n") {
			f := strings.Fields(l)
			if len(f) >= 3 && f[0] == "#" && strings.Contains(f[2], "sesame-edu/sesame/server/") {
				name := f[2][strings.LastIndex(f[2], "/")+1:]
				name = name[:strings.LastIndexByte(name, '+')]
				sesame = append(sesame, name)
			}
		}
		chain := strings.Join(sesame[:min(len(sesame), 4)], " ← ")
		var what string
		switch {
		case strings.Contains(block, "sqliteDefaultBusyCallback"):
			what = "FerretDB/SQLite: asleep in SQLite's busy handler, waiting for the write lock" + op
		case strings.Contains(block, "Xsqlite3_step"):
			what = "FerretDB/SQLite: running a statement" + op
		case strings.Contains(block, "handleOpMsg"):
			what = "FerretDB: handling a command" + op
		case strings.Contains(block, "topology.(*pool).checkOut"):
			what = "Mongo driver: waiting for a free connection to the store, in " + chain
		case strings.Contains(block, "argon2"):
			what = "argon2id: hashing"
		case strings.Contains(block, "account.(*Hasher).derive"):
			what = "argon2id: waiting for a hashing slot"
		case len(sesame) > 0 && strings.Contains(block, "x/mongo/driver"):
			what = "Sésame: waiting for the store, in " + chain
		case len(sesame) > 0 && !strings.Contains(block, "(*Service).Run") && !strings.Contains(block, "(*Worker).Run") || strings.Contains(block, "(*Service).Process") || strings.Contains(block, "deliverOne"):
			what = "Sésame: " + chain
		default:
			continue
		}
		counts[what] += n
	}
	return nil
}

func waitTable(counts map[string]int) string {
	var rows [][]string
	for k, v := range counts {
		rows = append(rows, []string{strconv.Itoa(v), k})
	}
	sort.Slice(rows, func(i, j int) bool {
		a, _ := strconv.Atoi(rows[i][0])
		c, _ := strconv.Atoi(rows[j][0])
		return a > c || a == c && rows[i][1] < rows[j][1]
	})
	return table([]string{"goroutines", "doing"}, rows)
}

type memSample struct {
	RSS                                                            int64 // KiB
	GoResident, HeapInuse, HeapIdle, HeapReleased, StackInuse, Sys uint64
	Goroutines                                                     uint64
}

func mb(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x) / (1 << 20)
	case uint64:
		return float64(x) / (1 << 20)
	}
	return 0
}

// sampleMem keeps the runtime statistics of the sample with the highest
// VmRSS until done is signalled; it then closes done.
func sampleMem(p profiler, pid int, done chan struct{}, max *memSample) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-done:
			close(done)
			return
		case <-t.C:
		}
		rss, _ := memory(pid)
		if rss <= max.RSS {
			continue
		}
		js, err := p.call("/memstats", nil)
		if err != nil {
			continue
		}
		var m map[string]uint64
		if json.Unmarshal([]byte(js), &m) != nil {
			continue
		}
		*max = memSample{RSS: rss, Sys: m["Sys"], HeapInuse: m["HeapInuse"], HeapIdle: m["HeapIdle"], HeapReleased: m["HeapReleased"],
			StackInuse: m["StackInuse"], Goroutines: m["Goroutines"], GoResident: m["Sys"] - m["HeapReleased"]}
	}
}

// waitFor polls f until it returns true or d passes.
func waitFor(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
