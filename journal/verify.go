package journal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Problem is the first place a journal fails verification.
type Problem struct {
	File   string
	Line   int
	Reason string
}

func (p *Problem) Error() string {
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
}

// ErrHeadMissing is returned when VerifyOptions.ExpectHead names a record
// the journal does not hold: records were cut off its end, or its chain
// was rewritten from an earlier point.
var ErrHeadMissing = errors.New("expected head not in the journal")

// Summary describes a journal that verified.
type Summary struct {
	Files   int
	Records int
	// Anchor is the prev hash of the first record kept: the last hash of
	// segments dropped by retention, or empty when nothing was dropped.
	Anchor     string
	First      uint64
	Last       uint64
	LastHash   string
	FirstAt    time.Time
	LastAtTime time.Time
	// MACs is true when the records' MACs were checked against the key:
	// all of them but the Unkeyed ones.
	MACs bool
	// Unkeyed counts the records at the start written before the journal
	// had a key (an upgrade). They are vouched for by the first keyed
	// record after them, whose MAC covers the chain back through them.
	Unkeyed int
	// Torn lists the torn tails that a later segment header declares: a
	// crash or a full disk cut those bytes, and the chain went on past
	// them.
	Torn []Torn
	// Pending is a torn tail at the end of the newest segment that no
	// header declares yet; riskmon declares it at its next start.
	Pending *Torn
	// Lost is how many records the journal says it could not write.
	Lost uint64
	// HeadFound is true when VerifyOptions.ExpectHead was found.
	HeadFound bool
}

// VerifyOptions add checks to Verify.
type VerifyOptions struct {
	// Key checks every record's MAC; a record without one, or with a
	// wrong one, fails.
	Key []byte
	// ExpectHead is a head published earlier, "SEQ:HASH" or "HASH": the
	// journal must hold that record.
	ExpectHead string
}

// Verify checks a segment file or a directory of segments by its hash
// chain alone.
func Verify(path string) (Summary, error) {
	return VerifyWith(path, VerifyOptions{})
}

// VerifyWith checks a segment file or a directory of segments. It returns
// a *Problem naming the first bad line: a record whose hash or MAC does
// not match its content (edited), whose prev is not the hash before it
// (deleted, inserted or reordered), whose sequence number skips, or a
// line that is not a record. A cut last line (a torn tail) is not a
// problem when it ends the newest segment or a later segment's header
// declares it; it is listed in the Summary. With ExpectHead it returns
// ErrHeadMissing when that record is not there.
func VerifyWith(path string, opts VerifyOptions) (Summary, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Summary{}, err
	}
	files := []string{path}
	if fi.IsDir() {
		if files, err = Segments(path); err != nil {
			return Summary{}, err
		}
		if len(files) == 0 {
			return Summary{}, fmt.Errorf("journal: no %s*%s files in %s", filePrefix, fileSuffix, path)
		}
	}
	var want struct {
		seq  uint64
		hash string
	}
	if opts.ExpectHead != "" {
		h := opts.ExpectHead
		if s, rest, ok := strings.Cut(h, ":"); ok {
			if want.seq, err = strconv.ParseUint(s, 10, 64); err != nil {
				return Summary{}, fmt.Errorf("expected head %q: want SEQ:HASH or HASH", h)
			}
			h = rest
		}
		if len(h) != sha256.Size*2 {
			return Summary{}, fmt.Errorf("expected head %q: the hash is %d hex digits", opts.ExpectHead, sha256.Size*2)
		}
		want.hash = strings.ToLower(h)
	}
	sum := Summary{MACs: opts.Key != nil}
	v := verifier{sum: &sum, key: opts.Key, declared: map[Torn]bool{}}
	// Headers are read first: a torn tail is judged by what the header
	// of a later segment says about it.
	for _, f := range files {
		for _, t := range declaredTorn(f) {
			v.declared[t] = true
		}
	}
	for i, f := range files {
		if err := v.file(f, i == len(files)-1); err != nil {
			return sum, err
		}
	}
	if v.key != nil && !v.keyed && sum.Records > 0 {
		// An unkeyed prefix is only vouched for by a keyed record after
		// it; a journal with none could have been rewritten whole.
		return sum, &Problem{File: files[len(files)-1], Line: 0,
			Reason: "no record carries a MAC: the journal was written without its key, or rewritten and its MACs stripped"}
	}
	if want.hash != "" {
		for _, h := range v.heads {
			if h.hash == want.hash && (want.seq == 0 || h.seq == want.seq) {
				sum.HeadFound = true
			}
		}
		if !sum.HeadFound {
			if want.seq != 0 && want.seq < sum.First {
				return sum, fmt.Errorf("%w: seq %d is older than the first record kept (%d), so it cannot be checked", ErrHeadMissing, want.seq, sum.First)
			}
			return sum, fmt.Errorf("%w: no record has hash %.16s…: records were cut off the end or the chain was rewritten", ErrHeadMissing, want.hash)
		}
	}
	return sum, nil
}

type head struct {
	seq  uint64
	hash string
}

type verifier struct {
	sum      *Summary
	key      []byte
	declared map[Torn]bool
	started  bool
	keyed    bool // a record with a valid MAC was seen
	seq      uint64
	last     string
	heads    []head
}

// declaredTorn reads the torn tails a segment's header declares; a file
// without a readable header declares none (the main pass reports it).
func declaredTorn(path string) []Torn {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, _ := f.Read(buf)
	line, _, _ := bytes.Cut(buf[:n], []byte("\n"))
	var r Record
	if json.Unmarshal(line, &r) != nil || r.Kind != KindSegment {
		return nil
	}
	var h segmentHeader
	if json.Unmarshal(r.Data, &h) != nil {
		return nil
	}
	return h.Torn
}

func (v *verifier) file(path string, newest bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	v.sum.Files++
	whole := data
	var rest []byte
	if nl := bytes.LastIndexByte(data, '\n'); nl < len(data)-1 {
		whole, rest = data[:nl+1], data[nl+1:]
	}
	var lines [][]byte
	if len(whole) > 0 {
		lines = bytes.Split(bytes.TrimSuffix(whole, []byte("\n")), []byte("\n"))
	}
	if len(rest) > 0 {
		if _, err := check(rest); err == nil {
			// A whole record whose newline was cut.
			lines, rest = append(lines, rest), nil
		}
	}
	for i, line := range lines {
		if err := v.record(path, i+1, line); err != nil {
			return err
		}
	}
	if len(rest) == 0 && len(data) > 0 {
		return nil
	}
	t := Torn{File: filepath.Base(path), Offset: int64(len(whole)), Bytes: int64(len(rest))}
	switch {
	case v.declared[t]:
		v.sum.Torn = append(v.sum.Torn, t)
	case newest:
		v.sum.Pending = &t
	case len(data) == 0:
		return &Problem{File: path, Line: 1, Reason: "empty segment that no later segment declares: its records were removed"}
	default:
		return &Problem{File: path, Line: len(lines) + 1, Reason: "the segment ends in a cut line that no later segment declares: the file was cut or changed after it was written"}
	}
	return nil
}

func (v *verifier) record(path string, n int, line []byte) error {
	bad := func(format string, args ...any) error {
		return &Problem{File: path, Line: n, Reason: fmt.Sprintf(format, args...)}
	}
	r, err := check(line)
	if err != nil {
		return bad("%v", err)
	}
	if v.key != nil {
		switch {
		case r.MAC == "" && v.keyed:
			return bad("seq %d: record has no MAC after records that have one: written without the journal key, or rewritten", r.Seq)
		case r.MAC == "":
			v.sum.Unkeyed++ // before the key existed; the first keyed record vouches for it
		case !hmac.Equal([]byte(r.MAC), []byte(mac(v.key, r.Hash))):
			return bad("seq %d: MAC does not match: the record was rewritten without the journal key, or the key is another", r.Seq)
		default:
			v.keyed = true
		}
	}
	// Every segment file starts with its header; an export excerpt
	// (the first file verified) may start anywhere.
	if n == 1 && v.started && r.Kind != KindSegment {
		return bad("first record is %q, want a segment header", r.Kind)
	}
	if !v.started {
		// The first record kept: its prev is the anchor left by
		// retention, which nothing here can check.
		v.started = true
		v.sum.Anchor, v.sum.First, v.sum.FirstAt = r.Prev, r.Seq, r.At
	} else {
		if r.Prev != v.last {
			return bad("seq %d: prev hash %.12s… is not the hash of the record before (%.12s…): a record was deleted, inserted or moved", r.Seq, r.Prev, v.last)
		}
		if r.Seq != v.seq+1 {
			return bad("seq %d follows seq %d: a record is missing or out of order", r.Seq, v.seq)
		}
	}
	switch r.Kind {
	case KindSegment:
		var h segmentHeader
		if err := json.Unmarshal(r.Data, &h); err == nil && len(h.SetAside) > 0 {
			return bad("segment(s) %s held no valid record and were set aside at a start: damaged or edited", strings.Join(h.SetAside, ", "))
		}
		for _, t := range h.Torn {
			if strings.HasSuffix(t.File, tornSuffix) && !slices.Contains(v.sum.Torn, t) {
				v.sum.Torn = append(v.sum.Torn, t)
			}
		}
	case KindLost:
		var l lostRecord
		if json.Unmarshal(r.Data, &l) == nil {
			v.sum.Lost += l.Records
		}
	}
	v.seq, v.last = r.Seq, r.Hash
	v.heads = append(v.heads, head{r.Seq, r.Hash})
	v.sum.Records++
	v.sum.Last, v.sum.LastHash, v.sum.LastAtTime = r.Seq, r.Hash, r.At
	return nil
}

// check parses one line and verifies its own hash; the verifier checks
// the MAC, which depends on what came before.
func check(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("not a journal record (cut short?): %v", err)
	}
	suffix := `,"hash":"` + r.Hash + `"}`
	if r.MAC != "" {
		suffix = `,"hash":"` + r.Hash + `","mac":"` + r.MAC + `"}`
	}
	if len(r.Hash) != sha256.Size*2 || !bytes.HasSuffix(line, []byte(suffix)) {
		return r, errors.New("record has no hash as its last member")
	}
	body := append(slices.Clone(line[:len(line)-len(suffix)]), '}')
	got := sha256.Sum256(body)
	if hex.EncodeToString(got[:]) != r.Hash {
		return r, fmt.Errorf("seq %d: content does not match its hash: the record was edited", r.Seq)
	}
	return r, nil
}
