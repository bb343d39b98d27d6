/* Placeholder replaced by the benchmark helper. */
int main(void)
{
	return 0;
}
