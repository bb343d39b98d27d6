#define _GNU_SOURCE
#include "common/clone_vm.h"

#include <errno.h>
#include <sys/syscall.h>

#define CM_STR2(x) #x
#define CM_STR(x)  CM_STR2(x)

#if defined(__x86_64__)
/* cm_clone3_raw(args, size, fn, arg): the clone3 system call, then in the child (on its own
 * stack, where no return address of the parent's is) fn(arg) and exit. The system call leaves
 * every register but rax, rcx and r11 as it was, in both processes, so fn and arg survive it
 * in rdx and r8; the child's stack pointer is the top of its stack, 16-byte aligned, so the
 * call leaves fn the alignment the ABI promises. */
long cm_clone3_raw(struct clone_args *args, size_t size, int (*fn)(void *), void *arg);
/* clang-format off */
__asm__(".text\n"
        ".globl cm_clone3_raw\n"
        ".hidden cm_clone3_raw\n"
        ".type cm_clone3_raw, @function\n"
        "cm_clone3_raw:\n"
        "	mov %rcx, %r8\n"
        "	mov $" CM_STR(SYS_clone3) ", %eax\n"
        "	syscall\n"
        "	test %rax, %rax\n"
        "	jz 1f\n"
        "	ret\n"
        "1:	xor %ebp, %ebp\n"
        "	mov %r8, %rdi\n"
        "	call *%rdx\n"
        "	mov %eax, %edi\n"
        "	mov $" CM_STR(SYS_exit) ", %eax\n"
        "	syscall\n"
        "	hlt\n"
        ".size cm_clone3_raw, .-cm_clone3_raw\n");
/* clang-format on */

bool cm_clone3_call_supported(void)
{
	return true;
}

long cm_clone3_call(struct clone_args *args, int (*fn)(void *), void *arg)
{
	long r = cm_clone3_raw(args, sizeof(*args), fn, arg);
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
#else
bool cm_clone3_call_supported(void)
{
	return false;
}

long cm_clone3_call(struct clone_args *args, int (*fn)(void *), void *arg)
{
	(void)args, (void)fn, (void)arg;
	errno = ENOSYS;
	return -1;
}
#endif
