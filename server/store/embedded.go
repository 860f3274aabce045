package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// socketName is the embedded server's Unix socket inside the data
// directory. The driver only treats a host as a socket path when it ends in
// ".sock".
const socketName = "mongodb.sock"

// maxSocketPath is the longest Unix socket path Linux accepts, less a margin.
const maxSocketPath = 100

// Embedded is a FerretDB server running inside this process.
type Embedded struct {
	uri string
	// dir is the data directory, absolute; IndexIDs finds the SQLite
	// files there.
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// URI is the connection string the driver uses to reach the server.
func (e *Embedded) URI() string { return e.uri }

// Stop shuts the server down and waits for it.
func (e *Embedded) Stop() {
	e.cancel()
	<-e.done
}

// StartEmbedded starts FerretDB over SQLite files in dir.
//
// The embedded server has no authentication, so it listens on a Unix socket
// inside the data directory (mode 0700) rather than on a TCP port that any
// local user could reach. tcp forces a loopback TCP listener instead; tests
// use it to run two application instances against one server, and it is the
// fallback when the directory's path is too long for a socket.
//
// There is no in-memory mode: FerretDB v1's SQLite "mode=memory" hangs on
// any update of an existing document (seen with v1.24.2), so tests use
// files in a temporary directory too.
func StartEmbedded(dir string, tcp bool, log *slog.Logger) (*Embedded, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the socket and the
	// database files must not be readable by other local users.
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: data dir: %w", err)
	}

	lc := ferretdb.ListenerConfig{}
	sock := filepath.Join(abs, socketName)
	switch {
	case tcp:
		lc.TCP = "127.0.0.1:0"
	case len(sock) > maxSocketPath:
		log.Warn("data directory path too long for a Unix socket; the embedded store listens on loopback TCP instead", "dir", abs)
		lc.TCP = "127.0.0.1:0"
	default:
		// A socket left by a killed process would make the listener fail.
		if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: remove stale socket: %w", err)
		}
		lc.Unix = sock
	}

	// In WAL mode (FerretDB's default), synchronous=NORMAL syncs the
	// log at checkpoints instead of at every commit: a crash of Sésame
	// loses nothing, a power cut may lose the last commits but never
	// corrupts the file. Each commit's fsync was 15 % of the server's CPU
	// in a recovery flow (one flow is a dozen small commits).
	url := "file:" + abs + "/?_pragma=synchronous(normal)"
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  lc,
		Handler:   "sqlite",
		SQLiteURL: url,
		// FerretDB logs every connection at info level; only its errors
		// interest an operator.
		Logger: slog.New(levelFilter{h: log.Handler(), min: slog.LevelError}),
	})
	if err != nil {
		return nil, fmt.Errorf("store: start embedded server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Embedded{dir: abs, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		_ = f.Run(ctx)
	}()
	// MongoDBURI blocks until the listener is bound. For a socket, the URI
	// is rebuilt here: FerretDB does not escape commas, which the driver
	// takes for host separators.
	e.uri = f.MongoDBURI()
	if lc.Unix != "" {
		e.uri = socketURI(lc.Unix)
	}
	return e, nil
}

// socketURI is the connection string of a Unix socket: its path, every
// byte outside the unreserved set percent-encoded, as the host.
func socketURI(path string) string {
	var b strings.Builder
	b.WriteString("mongodb://")
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString("/")
	return b.String()
}

// OpenEmbedded starts the embedded server and connects to it. When a
// Sésame process already serves this data directory, it connects to that
// process's socket instead, so that `sesame accounts import` can run while
// the server runs and two processes never open the same SQLite files.
func OpenEmbedded(ctx context.Context, dir, database string, log *slog.Logger) (*Store, error) {
	start := time.Now()
	if abs, err := filepath.Abs(dir); err == nil {
		sock := filepath.Join(abs, socketName)
		if _, err := os.Stat(sock); err == nil {
			if s, err := connect(ctx, socketURI(sock), database, log, 300*time.Millisecond); err == nil {
				log.Info("using the embedded store of the Sésame process already running", "dir", abs)
				return s, nil
			}
		}
	}
	e, err := StartEmbedded(dir, false, log)
	if err != nil {
		return nil, err
	}
	// Connect sees FerretDB and routes the writes through one connection.
	s, err := Connect(ctx, e.URI(), database, log)
	if err != nil {
		e.Stop()
		return nil, err
	}
	s.embedded = e
	log.Debug("embedded store ready", "elapsed", time.Since(start))
	return s, nil
}

// levelFilter drops records below min before they reach h.
type levelFilter struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFilter) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{h: f.h.WithGroup(n), min: f.min}
}
