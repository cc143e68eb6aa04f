"""Front ends: each turns one wire protocol into calls on the cmdlet engine. None imports another."""
