package helpdesk

import (
	"slices"
	"strings"
	"time"
)

// lookaheadDays bounds the search for the next opening. A year and a day is
// enough to step over any school holiday and any month-restricted slot
// (a September-only slot seen from October is at most eleven months away).
const lookaheadDays = 366

// compiled is the parsed form of Hours. Invalid slots and closures are
// dropped here, which is what lets Status and Week never fail on bad data:
// Validate is the place that reports them.
type compiled struct {
	slots    []compiledSlot    // sorted Monday first, then by start and end
	closures []compiledClosure // in configuration order
}

// compiledSlot is a Slot with its day, times (minutes since midnight) and
// months parsed. A months mask of zero means every month; otherwise bit m is
// set for month m.
type compiledSlot struct {
	day      time.Weekday
	from, to int
	months   uint16
}

// compiledClosure is a DateRange as inclusive civil-date keys (see dateKey),
// with the index of the original entry so Status can return it.
type compiledClosure struct {
	from, to int
	index    int
}

// span is an opening on one day, in minutes since midnight, To exclusive.
type span struct{ from, to int }

// compile parses the hours once per call. Status and Week call it each time
// rather than caching because Hours is a plain value decoded from YAML and
// the package must not keep mutable state; the cost is a couple of small
// slices per page view.
func (h Hours) compile() compiled {
	var c compiled
	if len(h.Slots) > 0 {
		c.slots = make([]compiledSlot, 0, len(h.Slots))
	}
	for _, s := range h.Slots {
		cs, ok := compileSlot(s)
		if ok {
			c.slots = append(c.slots, cs)
		}
	}
	slices.SortStableFunc(c.slots, func(a, b compiledSlot) int {
		if d := mondayIndex(a.day) - mondayIndex(b.day); d != 0 {
			return d
		}
		if a.from != b.from {
			return a.from - b.from
		}
		return a.to - b.to
	})
	if len(h.Closures) > 0 {
		c.closures = make([]compiledClosure, 0, len(h.Closures))
	}
	for i, r := range h.Closures {
		from, okFrom := parseDate(r.From)
		to, okTo := parseDate(r.To)
		if okFrom && okTo && from <= to {
			c.closures = append(c.closures, compiledClosure{from: from, to: to, index: i})
		}
	}
	return c
}

// compileSlot parses one slot and reports whether it is usable.
func compileSlot(s Slot) (compiledSlot, bool) {
	day, ok := parseDay(s.Day)
	if !ok {
		return compiledSlot{}, false
	}
	from, okFrom := parseClock(s.From)
	to, okTo := parseClock(s.To)
	if !okFrom || !okTo || to <= from {
		return compiledSlot{}, false
	}
	var months uint16
	for _, m := range s.Months {
		if m < 1 || m > 12 {
			return compiledSlot{}, false
		}
		months |= 1 << m
	}
	return compiledSlot{day: day, from: from, to: to, months: months}, true
}

// inMonth reports whether the slot applies during month m.
func (s compiledSlot) inMonth(m time.Month) bool {
	return s.months == 0 || s.months&(1<<m) != 0
}

// monthList returns the slot's months in ascending order, or nil when the
// slot applies every month.
func (s compiledSlot) monthList() []int {
	if s.months == 0 {
		return nil
	}
	var ms []int
	for m := 1; m <= 12; m++ {
		if s.months&(1<<m) != 0 {
			ms = append(ms, m)
		}
	}
	return ms
}

// closureOn returns the index in Hours.Closures of the first closure that
// covers the civil date key, or -1.
func (c compiled) closureOn(key int) int {
	for _, r := range c.closures {
		if r.from <= key && key <= r.to {
			return r.index
		}
	}
	return -1
}

// daySpans appends to dst the openings on a day with the given weekday and
// month, merging overlapping or touching slots so that a desk open 14:00–16:00
// and 16:00–17:00 reports closing at 17:00 rather than at 16:00.
func (c compiled) daySpans(dst []span, wd time.Weekday, m time.Month) []span {
	for _, s := range c.slots {
		if s.day != wd || !s.inMonth(m) {
			continue
		}
		if n := len(dst); n > 0 && s.from <= dst[n-1].to {
			dst[n-1].to = max(dst[n-1].to, s.to)
			continue
		}
		dst = append(dst, span{s.from, s.to})
	}
	return dst
}

// Status reports whether the desk is open at now, with wall-clock hours and
// closure dates interpreted in loc. A nil loc means now's own location.
//
// Invalid slots and closures are ignored, so Status never panics on a
// configuration that failed Validate. The next opening is searched on today
// and the following 366 calendar days.
func (h Hours) Status(now time.Time, loc *time.Location) Status {
	if loc == nil {
		loc = now.Location()
	}
	now = now.In(loc)
	c := h.compile()

	var st Status
	st.Known = len(c.slots) > 0
	y, m, d := now.Date()
	if i := c.closureOn(dateKey(y, m, d)); i >= 0 {
		r := h.Closures[i] // a copy, so callers cannot modify the configuration through it
		st.Closure = &r
	}
	if !st.Known {
		return st
	}

	// A small stack buffer: a day rarely has more than a few openings.
	var buf [8]span
	for off := 0; off <= lookaheadDays; off++ {
		// Calendar arithmetic is done in UTC, where every day has 24 hours,
		// so that stepping over a DST change never skips or repeats a day.
		// Only the opening instants below are built in loc.
		day := time.Date(y, m, d+off, 0, 0, 0, 0, time.UTC)
		dy, dm, dd := day.Date()
		if c.closureOn(dateKey(dy, dm, dd)) >= 0 {
			continue
		}
		for _, sp := range c.daySpans(buf[:0], day.Weekday(), dm) {
			start := time.Date(dy, dm, dd, sp.from/60, sp.from%60, 0, 0, loc)
			end := time.Date(dy, dm, dd, sp.to/60, sp.to%60, 0, 0, loc)
			// An opening entirely inside a spring-forward gap has no real
			// duration; treat it as absent instead of reporting end <= start.
			if !end.After(start) || !now.Before(end) {
				continue
			}
			if !start.After(now) {
				st.Open = true
				st.ClosesAt = end
				return st
			}
			st.NextOpen = start
			st.NextClose = end
			return st
		}
	}
	return st
}

// dateKey encodes a civil date as YYYYMMDD so that dates compare as ints.
func dateKey(y int, m time.Month, d int) int {
	return y*10000 + int(m)*100 + d
}

// parseDate parses "YYYY-MM-DD" into a dateKey, rejecting impossible dates
// such as 2026-02-30.
func parseDate(s string) (int, bool) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return 0, false
	}
	y, m, d := t.Date()
	return dateKey(y, m, d), true
}

// parseClock parses "HH:MM" (or "H:MM") from 00:00 to 23:59 into minutes
// since midnight.
func parseClock(s string) (int, bool) {
	s = strings.TrimSpace(s)
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 {
		return 0, false
	}
	h, okH := atoi(hh)
	m, okM := atoi(mm)
	if !okH || !okM || h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// atoi parses a short run of ASCII digits; strconv.Atoi would also accept
// signs, which have no place in a clock time.
func atoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// formatClock formats minutes since midnight as "HH:MM".
func formatClock(min int) string {
	const digits = "0123456789"
	h, m := min/60, min%60
	return string([]byte{digits[h/10], digits[h%10], ':', digits[m/10], digits[m%10]})
}

// parseDay parses an English or French day name, case-insensitively, because
// the configuration is written by French-speaking staff. The names live in a
// local array rather than a package-level map to keep the package free of
// mutable globals, and EqualFold avoids allocating a lower-cased copy.
func parseDay(s string) (time.Weekday, bool) {
	names := [...][2]string{ // indexed by time.Weekday
		{"sunday", "dimanche"}, {"monday", "lundi"}, {"tuesday", "mardi"},
		{"wednesday", "mercredi"}, {"thursday", "jeudi"}, {"friday", "vendredi"},
		{"saturday", "samedi"},
	}
	s = strings.TrimSpace(s)
	for wd, n := range names {
		if strings.EqualFold(s, n[0]) || strings.EqualFold(s, n[1]) {
			return time.Weekday(wd), true
		}
	}
	return 0, false
}

// mondayIndex orders weekdays Monday first, as French calendars do.
func mondayIndex(wd time.Weekday) int {
	return (int(wd) + 6) % 7
}
