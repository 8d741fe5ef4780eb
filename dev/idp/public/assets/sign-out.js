// Submits the end-session form at once, as Logto's sign-out page does.
document.getElementById('op.logoutForm').submit();
