package feishutask

// The Go side of the C callbacks. C holds only cgo.Handle integers, never Go
// pointers. A panic must not unwind through the C library's frames, so each
// function recovers: a progress panic stops the wait and Wait re-raises it;
// a log panic drops the line.

/*
#include <stdint.h>
*/
import "C"

import (
	"runtime/cgo"
	"time"
)

//export feishutaskGoProgress
func feishutaskGoProgress(handle C.uintptr_t, status C.int32_t, polls C.uint32_t, elapsedMS C.uint64_t) (stop C.int32_t) {
	state, ok := cgo.Handle(handle).Value().(*waitState)
	if !ok {
		return 1
	}
	defer func() {
		if v := recover(); v != nil {
			state.panicked, state.panicValue = true, v
			stop = 1
		}
	}()
	state.progress(Progress{
		Status:  Status(status),
		Polls:   int(polls),
		Elapsed: time.Duration(elapsedMS) * time.Millisecond,
	})
	return 0
}

//export feishutaskGoLog
func feishutaskGoLog(handle C.uintptr_t, level C.int32_t, message *C.char) {
	f, ok := cgo.Handle(handle).Value().(LogFunc)
	if !ok {
		return
	}
	msg := C.GoString(message)
	defer func() { _ = recover() }()
	f(LogLevel(level), msg)
}
