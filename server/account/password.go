package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id cost parameters.
//
// The default is OWASP's Password Storage Cheat Sheet's first
// recommendation (m=19 MiB, t=2, p=1), which RFC 9106 and OWASP treat as
// equivalent to its alternatives. It keeps one hash near 20-40 ms on a
// shared core, so a school's small server can absorb a rush of parents at
// the start of term, while making each offline guess cost 19 MiB of memory.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen int
	KeyLen  uint32
}

// DefaultParams returns the cost used for every new hash.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// ProvisionalParams hash the provisional passwords Sésame draws for
// letters: 64 random bits cannot be guessed offline whatever the hash's
// cost (2^64 tries), so the slow hash that protects passwords people choose
// buys nothing here, and it would make a batch of 500 letters outlast the
// request. Each is still a salted argon2id in the same PHC form, and
// Verify reads the parameters from the hash.
func ProvisionalParams() Params {
	return Params{Memory: 2 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// ErrBadHash means a stored hash is not a PHC argon2id string.
var ErrBadHash = errors.New("account: malformed password hash")

// Hasher hashes and verifies passwords with argon2id. Its semaphore bounds
// how many hashes run at once: more than the number of cores only adds
// memory (19 MiB each) without adding throughput.
type Hasher struct {
	params Params
	sem    chan struct{}
	// derived counts derivations, for tests that check that two paths
	// hash the same number of times.
	derived atomic.Uint64
}

// Derivations returns how many argon2id derivations this Hasher has run.
func (h *Hasher) Derivations() uint64 { return h.derived.Load() }

// NewHasher returns a Hasher with params, running at most parallel hashes
// at a time.
func NewHasher(params Params, parallel int) *Hasher {
	if parallel < 1 {
		parallel = 1
	}
	return &Hasher{params: params, sem: make(chan struct{}, parallel)}
}

// Params returns the cost parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns password's argon2id hash in PHC string format,
// $argon2id$v=19$m=19456,t=2,p=1$salt$hash, which records its own
// parameters so that they can be raised later without breaking old hashes.
//
// The password is hashed in Unicode NFC, as Verify checks it: a phone may
// type « é » as one code point and a computer as two.
func (h *Hasher) Hash(password string) (string, error) {
	password = norm.NFC.String(password)
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: salt: %w", err)
	}
	key := h.derive([]byte(password), salt, h.params)
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether password matches encoded, in constant time, and
// whether the hash should be replaced because its parameters are outdated.
func (h *Hasher) Verify(encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decodePHC(encoded)
	if err != nil {
		return false, false, err
	}
	nfc := norm.NFC.String(password)
	got := h.derive([]byte(nfc), salt, p)
	ok = subtle.ConstantTimeCompare(got, key) == 1
	if !ok && nfc != password {
		// A hash made before passwords were normalised (an old import)
		// holds the password as it was typed.
		ok = subtle.ConstantTimeCompare(h.derive([]byte(password), salt, p), key) == 1
	}
	rehash = p.Memory != h.params.Memory || p.Time != h.params.Time || p.Threads != h.params.Threads
	return ok, rehash, nil
}

// Burn spends the same work as a Verify without a stored hash. Sign-in calls
// it for unknown identifiers so that they take as long as known ones.
func (h *Hasher) Burn(password string) {
	h.derive([]byte(password), make([]byte, h.params.SaltLen), h.params)
}

func (h *Hasher) derive(password, salt []byte, p Params) []byte {
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	h.derived.Add(1)
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

func encodePHC(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decodePHC(s string) (Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, ErrBadHash
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 {
			return Params{}, nil, nil, ErrBadHash
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, ErrBadHash
			}
			p.Threads = uint8(n)
		default:
			return Params{}, nil, nil, ErrBadHash
		}
	}
	// Refuse absurd costs from a tampered database rather than let one
	// document exhaust the server's memory.
	if p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 64 || p.Threads == 0 {
		return Params{}, nil, nil, ErrBadHash
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return Params{}, nil, nil, ErrBadHash
	}
	p.SaltLen, p.KeyLen = len(salt), uint32(len(key))
	return p, salt, key, nil
}

// CheckHash reports whether s is an argon2id PHC string Verify can read:
// the school's file holds client secrets in this form.
func CheckHash(s string) error {
	_, _, _, err := decodePHC(s)
	return err
}
