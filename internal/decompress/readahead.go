package decompress

import (
	"io"
	"sync"
)

// readAheadBlock and readAheadBlocks size ReadAhead's buffers: enough to keep a decoder
// busy while the parser works on the previous blocks, small enough not to matter.
const (
	readAheadBlock  = 256 << 10
	readAheadBlocks = 4
)

// ReadAhead returns a reader of r's contents that reads r in its own goroutine, up to a
// megabyte ahead of the caller: with r a decompressor, decompressing and parsing then run
// on two cores instead of taking turns on one. Errors from r arrive after the data read
// before them. Closing the returned reader stops the goroutine, waits for it, then closes r;
// it must not be read after Close.
//
// A reader whose decoder already runs in another process (an xz stream decoded by the xz
// program) is returned as it is: the pipe between the processes is the read-ahead, and a
// second copy would only cost CPU time on a machine whose cores are all busy.
func ReadAhead(r io.ReadCloser) io.ReadCloser {
	if l, ok := r.(*limitedReader); ok {
		if _, external := l.dec.(*xzReader); external {
			return r
		}
	}
	ra := &readAhead{r: r, ready: make(chan block, readAheadBlocks), free: make(chan []byte, readAheadBlocks), done: make(chan struct{})}
	for range readAheadBlocks {
		ra.free <- make([]byte, readAheadBlock)
	}
	ra.wg.Add(1)
	go ra.fill()
	return ra
}

type block struct {
	buf []byte // a slice of one of the free buffers
	err error
}

type readAhead struct {
	r     io.ReadCloser
	ready chan block
	free  chan []byte
	done  chan struct{}
	wg    sync.WaitGroup
	cur   block
	off   int
	err   error
	once  sync.Once
}

func (ra *readAhead) fill() {
	defer ra.wg.Done()
	defer close(ra.ready)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := io.ReadFull(ra.r, buf[:cap(buf)])
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case ra.ready <- block{buf: buf[:n], err: err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur.buf) {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.cur.buf != nil {
			ra.free <- ra.cur.buf[:0]
		}
		b, ok := <-ra.ready
		if !ok {
			return 0, io.ErrClosedPipe
		}
		ra.cur, ra.off, ra.err = b, 0, b.err
		if len(b.buf) == 0 {
			ra.cur.buf = nil
			if ra.err == nil {
				continue
			}
			return 0, ra.err
		}
	}
	n := copy(p, ra.cur.buf[ra.off:])
	ra.off += n
	return n, nil
}

func (ra *readAhead) Close() error {
	var err error
	ra.once.Do(func() {
		close(ra.done)
		ra.wg.Wait()
		err = ra.r.Close()
	})
	return err
}
