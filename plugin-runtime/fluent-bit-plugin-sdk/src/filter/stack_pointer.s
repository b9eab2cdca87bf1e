# plugin_runtime_stack_reclaim(top: *mut u32) -> i32
#
# Called first thing by every exported filter function. A trap never runs the epilogues that
# give shadow stack back, so after one the module's `__stack_pointer` stays lower by the frames
# that were live. The first call records the stack pointer it sees in `*top`; each later call
# that sees a lower one (a previous call trapped) sets it back to `*top` and returns 1. Safe
# because no module code is running between calls from the host: everything below `*top` is
# dead frames. Written in assembly because stable Rust cannot write a wasm global, and so no
# function epilogue runs between the reset and the caller.
#
# Assemble: llvm-mc -triple=wasm32-unknown-unknown -filetype=obj stack_pointer.s -o stack_pointer.o
	.globaltype	__stack_pointer, i32
	.globl	plugin_runtime_stack_reclaim
	.type	plugin_runtime_stack_reclaim,@function
plugin_runtime_stack_reclaim:
	.functype	plugin_runtime_stack_reclaim (i32) -> (i32)
	local.get	0
	i32.load	0
	i32.eqz
	if
	local.get	0
	global.get	__stack_pointer
	i32.store	0
	i32.const	0
	return
	end_if
	global.get	__stack_pointer
	local.get	0
	i32.load	0
	i32.lt_u
	if
	local.get	0
	i32.load	0
	global.set	__stack_pointer
	i32.const	1
	return
	end_if
	i32.const	0
	end_function
