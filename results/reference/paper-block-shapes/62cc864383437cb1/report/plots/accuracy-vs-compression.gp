# blkrew plot 'accuracy-vs-compression', generated from the run's records (deterministic).
# Data: accuracy-vs-compression.csv (first row: column names). Draw it here with: gnuplot accuracy-vs-compression.gp
if (!exists("outfile")) outfile = 'accuracy-vs-compression.svg'
set encoding utf8
set terminal svg size 800,480 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Accuracy vs compression per method'
set grid
set key outside right top
set xlabel 'compression rate (×, log scale)'
set ylabel 'test accuracy'
set logscale x 2
set xrange [5.71429:11.2]
set offsets 0, 0, graph 0.05, graph 0.05
plot 'accuracy-vs-compression.csv' skip 1 every ::0::0 using 5:7 with linespoints lw 2 pt 7 lc 1 title 'blk-rew *x1', \
     '' skip 1 every ::0::0 using 5:7:8 with yerrorbars pt -1 lc 1 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::1::1 using 5:7 with linespoints lw 2 pt 7 lc 2 title 'blk-rew 4x4', \
     '' skip 1 every ::1::1 using 5:7:8 with yerrorbars pt -1 lc 2 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::2::2 using 5:7 with linespoints lw 2 pt 7 lc 3 title 'blk-rew 8x8', \
     '' skip 1 every ::2::2 using 5:7:8 with yerrorbars pt -1 lc 3 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::3::3 using 5:7 with linespoints lw 2 pt 7 lc 4 title 'blk-rew 8x16', \
     '' skip 1 every ::3::3 using 5:7:8 with yerrorbars pt -1 lc 4 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::4::4 using 5:7 with linespoints lw 2 pt 7 lc 5 title 'blk-rew 16x16', \
     '' skip 1 every ::4::4 using 5:7:8 with yerrorbars pt -1 lc 5 notitle, \
     'accuracy-vs-compression.csv' skip 1 every ::5::5 using 5:7 with linespoints lw 2 pt 7 lc 6 title 'blk-rew 16x32', \
     '' skip 1 every ::5::5 using 5:7:8 with yerrorbars pt -1 lc 6 notitle, \
     0.851967 with lines dt 2 lw 2 lc rgb '#444444' title 'dense (mean)'
