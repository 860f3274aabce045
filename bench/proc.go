package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// build compiles the server as the Dockerfile and make build do.
func build(repo, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// server is one running sesame process.
type server struct {
	URL     string
	DataDir string
	cmd     *exec.Cmd
	log     *os.File
	// Ready is the time from exec to the first 200 of /readyz.
	Ready time.Duration
	done  chan struct{}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// baseEnv is the environment without any SESAME_ variable of the caller's.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESAME_") {
			env = append(env, kv)
		}
	}
	return env
}

// startServer runs the binary on a free loopback port over dataDir and
// waits for /readyz, timing exec → first 200.
func startServer(binary, dataDir, config, smtpURL, logLevel, logPath string, extraEnv ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: dataDir, done: make(chan struct{})}
	s.log, err = os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(binary)
	s.cmd.Env = append(baseEnv(),
		fmt.Sprintf("SESAME_ADDR=127.0.0.1:%d", port),
		"SESAME_BASE_URL="+s.URL,
		"SESAME_DATA_DIR="+dataDir,
		"SESAME_CONFIG="+config,
		"SESAME_SMTP_URL="+smtpURL,
		"SESAME_LOG_LEVEL="+logLevel,
	)
	s.cmd.Env = append(s.cmd.Env, extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	for {
		resp, err := probe.Get(s.URL + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Ready = time.Since(start)
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("sesame exited during start; see %s:\n%s", logPath, tail(logPath, 20))
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 60*time.Second {
			s.Stop()
			return nil, fmt.Errorf("sesame not ready after 60 s; see %s", logPath)
		}
	}
}

// Pid is the server's process id.
func (s *server) Pid() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM and waits, then kills after 15 s.
func (s *server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.log.Close()
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// countLines counts log lines at level ERROR and WARN.
func countLevels(path string) (errs, warns int, sample string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.Contains(l, "level=ERROR"):
			errs++
			if sample == "" {
				sample = l
			}
		case strings.Contains(l, "level=WARN"):
			warns++
		}
	}
	return
}

// memInfo is a process's memory from /proc/<pid>/status, in KiB.
type memInfo struct {
	RSS, HWM   int64
	Anon, File int64 // RssAnon (heap, stacks, SQLite's caches) and RssFile (the binary's mapped code)
}

// memory reads VmRSS and VmHWM (KiB) of pid.
func memory(pid int) (rss, hwm int64) {
	m := memoryInfo(pid)
	return m.RSS, m.HWM
}

func memoryInfo(pid int) memInfo {
	var m memInfo
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.RSS = v
		case "VmHWM:":
			m.HWM = v
		case "RssAnon:":
			m.Anon = v
		case "RssFile:":
			m.File = v
		}
	}
	return m
}

// cpuTicks returns the process's user+system CPU time.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// rssSampler records the sample with the largest VmRSS while it runs.
type rssSampler struct {
	mu   sync.Mutex
	max  memInfo
	stop context.CancelFunc
	done chan struct{}
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	ctx, cancel := context.WithCancel(context.Background())
	r := &rssSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m := memoryInfo(pid)
			r.mu.Lock()
			if m.RSS > r.max.RSS {
				r.max = m
			}
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// Max stops the sampler and returns the sample with the largest VmRSS.
func (r *rssSampler) Max() memInfo {
	r.stop()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max
}

// copyDir copies a seeded data directory (regular files only, no socket).
func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		out, err := os.OpenFile(filepath.Join(dst, e.Name()), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			in.Close()
			return err
		}
		_, err = io.Copy(out, in)
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// machineCPU returns the busy and total CPU time of the whole machine
// (all cores), from /proc/stat.
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0
	}
	var v [10]int64
	for i := 1; i < len(f) && i <= 10; i++ {
		v[i-1], _ = strconv.ParseInt(f[i], 10, 64)
	}
	// user nice system idle iowait irq softirq steal …
	b64 := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	t64 := b64 + v[3] + v[4]
	return time.Duration(b64) * (time.Second / 100), time.Duration(t64) * (time.Second / 100)
}

// cpuAccount tells how much of the machine other programs used while the
// benchmark ran: on a shared machine, their load skews every figure.
type cpuAccount struct {
	busy0, total0, self0 time.Duration
	servers              time.Duration // CPU of the servers already stopped
}

func startCPUAccount() *cpuAccount {
	a := &cpuAccount{}
	a.busy0, a.total0 = machineCPU()
	a.self0 = cpuTime(os.Getpid())
	return a
}

// stopped adds a server's CPU, read just before it stops.
func (a *cpuAccount) stopped(cpu time.Duration) { a.servers += cpu }

// others is the share (0–1) of the machine's CPU time used by other
// processes since the start, and the benchmark's own share.
func (a *cpuAccount) others() (others, self float64) {
	busy, total := machineCPU()
	dt := (total - a.total0).Seconds()
	if dt <= 0 {
		return 0, 0
	}
	s := (cpuTime(os.Getpid()) - a.self0).Seconds()
	o := (busy - a.busy0).Seconds() - s - a.servers.Seconds()
	return max(o, 0) / dt, s / dt
}
